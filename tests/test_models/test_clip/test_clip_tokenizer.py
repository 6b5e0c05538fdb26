# Copyright (c) mmkd contributors. All rights reserved.
"""CLIP's BPE tokenizer on a hand-made merges file: OpenAI's id layout,
merges by rank, cleaning, start/end tokens and the context length."""
import pytest
import torch
from clip_vocab import EOT, SOT, VOCAB_SIZE, write_vocab

from mmkd.models.clip import CLIPTokenizer


def _id(symbol: str, end: bool = False) -> int:
    # OpenAI's layout: printable bytes from '!' on, then the same + '</w>'
    return ord(symbol) - ord('!') + (256 if end else 0)


@pytest.fixture(params=['vocab.txt', 'vocab.txt.gz'])
def tokenizer(request, tmp_path):
    return CLIPTokenizer(
        write_vocab(str(tmp_path / request.param)), context_length=8)


def test_ids_follow_openais_layout(tokenizer):
    assert tokenizer.vocab_size == VOCAB_SIZE
    assert (tokenizer.sot, tokenizer.eot) == (SOT, EOT)
    # 'a</w>' is 320 in OpenAI's vocabulary too
    assert tokenizer.encode('a') == [320] == [_id('a', end=True)]
    assert tokenizer.encode('dog') == [513]
    assert tokenizer.encode('zero') == [518]


def test_merges_apply_by_rank_and_fall_back_to_bytes(tokenizer):
    # 'c a' applies, 'ca t</w>' needs the word to end at t
    assert tokenizer.encode('cats') == [514, _id('t'), _id('s', end=True)]
    # 'o n' (rank 7) after nothing better: o n e</w>
    assert tokenizer.encode('one') == [519, _id('e', end=True)]
    # digits are single tokens; punctuation runs are one word
    assert tokenizer.encode('42!?') == [
        _id('4', end=True),
        _id('2', end=True),
        _id('!'),
        _id('?', end=True)
    ]


def test_text_is_cleaned_as_openai_does(tokenizer):
    assert tokenizer.encode('  A\tDOG &amp; ') == tokenizer.encode('a dog &')
    assert tokenizer.decode(tokenizer.encode('a dog &')) == 'a dog & '


def test_tokenize_rows(tokenizer):
    rows = tokenizer.tokenize(['a dog', 'zero'])
    assert rows.dtype == torch.long
    assert rows.tolist() == [[SOT, 320, 513, EOT, 0, 0, 0, 0],
                             [SOT, 518, EOT, 0, 0, 0, 0, 0]]
    with pytest.raises(
            ValueError,
            match="'a a a a a a a' gives 9 tokens, more than the "
            'context length 8'):
        tokenizer.tokenize('a a a a a a a')
    cut = tokenizer.tokenize('a a a a a a a', truncate=True)
    assert cut[0].tolist() == [SOT] + [320] * 6 + [EOT]


def test_bad_merges_line_is_named(tmp_path):
    path = tmp_path / 'vocab.txt'
    path.write_text('#version: 0.2\nd o\ndog\n')
    with pytest.raises(ValueError, match=r"line 3: 'dog' is not a merge"):
        CLIPTokenizer(str(path))
