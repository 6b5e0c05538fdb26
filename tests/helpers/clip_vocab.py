# Copyright (c) mmkd contributors. All rights reserved.
"""A hand-made BPE merges file in the format of OpenAI's
``bpe_simple_vocab_16e6.txt.gz`` (which cannot be downloaded in tests)."""
import gzip

#: merges, best first: ids 512, 513, ... after the 512 byte symbols
MERGES = ('d o', 'do g</w>', 'c a', 'ca t</w>', 'z e', 'r o</w>', 'ze ro</w>',
          'o n')
#: <|startoftext|> and <|endoftext|> follow the merges
SOT, EOT = 512 + len(MERGES), 513 + len(MERGES)
VOCAB_SIZE = 514 + len(MERGES)


def write_vocab(path: str) -> str:
    """Write :data:`MERGES` (gzipped if ``path`` ends in ``.gz``)."""
    text = '#version: 0.2\n' + '\n'.join(MERGES) + '\n'
    if path.endswith('.gz'):
        with gzip.open(path, 'wt', encoding='utf-8') as f:
            f.write(text)
    else:
        with open(path, 'w', encoding='utf-8') as f:
            f.write(text)
    return path
