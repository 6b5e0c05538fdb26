# Copyright (c) mmkd contributors. All rights reserved.
"""Learn a small BPE vocabulary in the format of OpenAI's
``bpe_simple_vocab_16e6.txt.gz``, for CLIP towers trained from scratch.

OpenAI's vocabulary cannot be downloaded offline, and a tower trained on a
closed set of prompts (DigitScenes' CLIP teacher) needs only their words.
The merges are learned as Sennrich et al.'s byte-pair encoding: the most
frequent adjacent pair of the prompts' words (cleaned, split and mapped to
byte symbols as :class:`~mmkd.models.clip.CLIPTokenizer` does) is merged,
again and again, until every word is one token; ties go to the smallest
pair, so the file depends only on the texts. Encoding applies the merges
in the learned order, so each word of the texts is one token.
"""
import gzip
import os
import os.path as osp
from collections import Counter
from typing import Iterable, List, Optional, Tuple

from .tokenizer import EOT, PATTERN, SOT, CLIPTokenizer, byte_symbols

__all__ = ['learn_bpe', 'write_bpe']

#: the header line of OpenAI's file, skipped by the tokenizer
HEADER = '#version: 0.2'


def _words(texts: Iterable[str]) -> Counter:
    """The texts' words as tuples of byte symbols, the last one marked
    ``</w>``, with their counts."""
    import regex
    pattern = regex.compile(PATTERN, regex.IGNORECASE)
    encoder = byte_symbols()
    words = Counter()
    for text in texts:
        for word in pattern.findall(CLIPTokenizer.clean(text)):
            if word in (SOT, EOT):
                raise ValueError(f'{text!r} holds the special token {word!r}')
            symbols = ''.join(encoder[b] for b in word.encode('utf-8'))
            words[tuple(symbols[:-1]) + (symbols[-1] + '</w>', )] += 1
    return words


def _merge(parts: Tuple[str, ...], pair: Tuple[str, str]) -> tuple:
    merged, i = [], 0
    while i < len(parts):
        if parts[i:i + 2] == pair:
            merged.append(pair[0] + pair[1])
            i += 2
        else:
            merged.append(parts[i])
            i += 1
    return tuple(merged)


def learn_bpe(texts: Iterable[str],
              max_merges: Optional[int] = None) -> List[Tuple[str, str]]:
    """BPE merges that make each word of ``texts`` one token.

    Args:
        texts (Iterable[str]): The texts the vocabulary is for.
        max_merges (int, optional): Stop after this many merges (words may
            then be several tokens). Defaults to no limit.

    Returns:
        list[tuple[str, str]]: The merges, first learned first.
    """
    words = _words(texts)
    if not words:
        raise ValueError('learn_bpe needs texts with at least one word')
    merges = []
    while max_merges is None or len(merges) < max_merges:
        pairs = Counter()
        for parts, count in words.items():
            for pair in zip(parts, parts[1:]):
                pairs[pair] += count
        if not pairs:
            break
        # most frequent first; the smallest pair among equals, for
        # a file that depends on the texts only
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        merged = Counter()
        for parts, count in words.items():
            merged[_merge(parts, best)] += count
        words = merged
    return merges


def write_bpe(path: str, merges: Iterable[Tuple[str, str]]) -> str:
    """Write merges as OpenAI's file: a header line, then ``left right``
    per line; gzipped if ``path`` ends in ``.gz``.

    Args:
        path (str): The file; its folder is created.
        merges (Iterable[tuple[str, str]]): The merges, best first.

    Returns:
        str: ``path``.
    """
    text = '\n'.join([HEADER] + [f'{a} {b}' for a, b in merges]) + '\n'
    if osp.dirname(path):
        os.makedirs(osp.dirname(path), exist_ok=True)
    if path.endswith('.gz'):
        # mtime 0: the same merges give the same bytes
        with open(path, 'wb') as raw, gzip.GzipFile(
                fileobj=raw, mode='wb', mtime=0, filename='') as f:
            f.write(text.encode('utf-8'))
    else:
        with open(path, 'w', encoding='utf-8') as f:
            f.write(text)
    return path
