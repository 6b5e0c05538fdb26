# Copyright (c) mmkd contributors. All rights reserved.
"""CLIP's byte-level BPE tokenizer, reading its merges from a given file.

OpenAI's vocabulary (``bpe_simple_vocab_16e6.txt.gz`` in the openai/CLIP
repository) is not shipped with mmkd; pass its path. The file is a header
line then one merge (``"a b"``) per line, gzipped or not. Token ids are
OpenAI's: the 256 byte symbols, the same with ``</w>`` (end of word), one id
per merge in file order, then ``<|startoftext|>`` and ``<|endoftext|>``, so
the end-of-text token has the highest id (the text tower pools there).
"""
import gzip
import html
from typing import Dict, List, Sequence, Tuple, Union

import torch
from torch import Tensor

__all__ = ['CLIPTokenizer']

SOT = '<|startoftext|>'
EOT = '<|endoftext|>'
# OpenAI's models use the first 49152 - 256 - 2 merges of their file
MAX_MERGES = 49152 - 256 - 2
# contractions, runs of letters, single digits, runs of other non-spaces
PATTERN = (r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|"
           r'[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+')


def byte_symbols() -> Dict[int, str]:
    """Byte -> printable character, as GPT-2's and CLIP's BPE map them:
    printable Latin-1 bytes stand for themselves, the others (spaces,
    control characters) are moved to code points from 256 on. The first 256
    token ids are these symbols in this dict's order."""
    keep = [*range(0x21, 0x7f), *range(0xa1, 0xad), *range(0xae, 0x100)]
    symbols = {b: chr(b) for b in keep}
    moved = 0
    for b in range(256):
        if b not in symbols:
            symbols[b] = chr(256 + moved)
            moved += 1
    # ids follow this order: the kept bytes, then the moved ones
    return symbols


def read_merges(path: str, max_merges: int = MAX_MERGES) -> List[tuple]:
    """The merge pairs of a BPE file (header line skipped)."""
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rt', encoding='utf-8') as f:
        lines = f.read().split('\n')[1:max_merges + 1]
    merges = []
    for number, line in enumerate(lines, start=2):
        if not line.strip():
            continue
        pair = tuple(line.split())
        if len(pair) != 2:
            raise ValueError(f'BPE file {path!r}, line {number}: {line!r} '
                             'is not a merge "<left> <right>"')
        merges.append(pair)
    return merges


class CLIPTokenizer:
    """Text to CLIP token ids.

    Args:
        bpe_path (str): The BPE merges file (OpenAI's
            ``bpe_simple_vocab_16e6.txt.gz`` for OpenAI's models).
        context_length (int): Length of the rows :meth:`tokenize` returns.
            Defaults to 77, OpenAI's.
        max_merges (int): Merges read from the file. Defaults to OpenAI's
            49152 - 256 - 2.
    """

    def __init__(self,
                 bpe_path: str,
                 context_length: int = 77,
                 max_merges: int = MAX_MERGES):
        import regex  # \p{L} classes, as OpenAI's pattern needs
        self.bpe_path = bpe_path
        self.context_length = context_length
        self.byte_encoder = byte_symbols()
        self.byte_decoder = {v: k for k, v in self.byte_encoder.items()}
        merges = read_merges(bpe_path, max_merges)
        symbols = list(self.byte_encoder.values())
        vocab = symbols + [s + '</w>' for s in symbols]
        vocab += [''.join(pair) for pair in merges] + [SOT, EOT]
        self.encoder = {token: i for i, token in enumerate(vocab)}
        if len(self.encoder) != len(vocab):
            raise ValueError(f'BPE file {bpe_path!r} merges into the same '
                             'token twice')
        self.decoder = vocab
        self.ranks = {pair: i for i, pair in enumerate(merges)}
        self.sot, self.eot = self.encoder[SOT], self.encoder[EOT]
        self.pattern = regex.compile(PATTERN, regex.IGNORECASE)
        self.cache = {SOT: (SOT, ), EOT: (EOT, )}

    @property
    def vocab_size(self) -> int:
        return len(self.decoder)

    def bpe(self, word: str) -> Tuple[str, ...]:
        """A word (byte symbols) to BPE tokens, applying the best-ranked
        merge everywhere until none applies."""
        if word in self.cache:
            return self.cache[word]
        parts = tuple(word[:-1]) + (word[-1] + '</w>', )
        while len(parts) > 1:
            pair = min(
                zip(parts, parts[1:]),
                key=lambda p: self.ranks.get(p, float('inf')))
            if pair not in self.ranks:
                break
            merged, i = [], 0
            while i < len(parts):
                if parts[i:i + 2] == pair:
                    merged.append(pair[0] + pair[1])
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = tuple(merged)
        self.cache[word] = parts
        return parts

    @staticmethod
    def clean(text: str) -> str:
        """OpenAI's cleaning: mojibake fixed, HTML entities unescaped,
        whitespace collapsed, lower case."""
        import ftfy
        text = html.unescape(html.unescape(ftfy.fix_text(text)))
        return ' '.join(text.split()).lower()

    def encode(self, text: str) -> List[int]:
        """Token ids of ``text``, without start and end tokens."""
        ids = []
        for word in self.pattern.findall(self.clean(text)):
            word = ''.join(self.byte_encoder[b] for b in word.encode('utf-8'))
            ids.extend(self.encoder[token] for token in self.bpe(word))
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        """Token ids back to (cleaned) text, a space after each word."""
        text = ''.join(self.decoder[i] for i in ids)
        data = bytearray(self.byte_decoder[c] for c in text)
        return data.decode('utf-8', errors='replace').replace('</w>', ' ')

    def tokenize(self,
                 texts: Union[str, Sequence[str]],
                 truncate: bool = False) -> Tensor:
        """Texts to rows of ``context_length`` ids: start token, text, end
        token, zeros.

        Args:
            texts (str | Sequence[str]): The texts.
            truncate (bool): Cut texts too long for ``context_length``
                (keeping the end token) instead of raising. Defaults to
                False.

        Returns:
            Tensor: Token ids (N, context_length), int64.
        """
        if isinstance(texts, str):
            texts = [texts]
        rows = torch.zeros(len(texts), self.context_length, dtype=torch.long)
        for i, text in enumerate(texts):
            ids = [self.sot] + self.encode(text) + [self.eot]
            if len(ids) > self.context_length:
                if not truncate:
                    raise ValueError(
                        f'{text!r} gives {len(ids)} tokens, more than the '
                        f'context length {self.context_length}')
                ids = ids[:self.context_length - 1] + [self.eot]
            rows[i, :len(ids)] = torch.tensor(ids)
        return rows
