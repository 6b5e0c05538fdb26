# Copyright (c) mmkd contributors. All rights reserved.
"""Class text embeddings: a file of class names and one CLIP text embedding
per class, plus an optional scale and bias for classifiers scoring
``x @ E.T * scale - bias``.

The file is a ``torch.save`` dict read with ``weights_only=True``:
``names`` (list of str), ``embeddings`` (Tensor [C, D]), and optionally
``scale`` and ``bias`` (float) and ``meta`` (dict of str, how it was made).
OADP's prompt files (``embeddings``, ``names``, ``scaler``, ``bias``) load
too: ``scaler`` is read as ``scale``.
"""
from typing import Dict, List, NamedTuple, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from mmkd.utils.checkpoint import torch_load_safely
from .text_tower import CLIPTextTower
from .tokenizer import CLIPTokenizer

__all__ = [
    'TextEmbeddings', 'load_text_embeddings', 'prompt_ensemble',
    'save_text_embeddings'
]

_KEYS = ('names', 'embeddings', 'scale', 'bias', 'meta')
# OADP's files call the scale ``scaler``
_ALIASES = dict(scaler='scale')


class TextEmbeddings(NamedTuple):
    """A loaded text-embedding file."""
    names: List[str]
    embeddings: Tensor
    scale: Optional[float] = None
    bias: Optional[float] = None
    meta: Optional[Dict[str, str]] = None


def _check(names, embeddings, what: str) -> None:
    if not isinstance(names, (list, tuple)) or not all(
            isinstance(n, str) for n in names):
        raise TypeError(f'{what}: names must be a list of str')
    if not isinstance(embeddings, Tensor) or embeddings.dim() != 2:
        raise ValueError(f'{what}: embeddings must be a [C, D] tensor, got '
                         f'{getattr(embeddings, "shape", type(embeddings))}')
    if len(names) != embeddings.shape[0]:
        raise ValueError(f'{what}: {len(names)} names but embeddings of '
                         f'shape {list(embeddings.shape)}')
    repeated = sorted({n for n in names if list(names).count(n) > 1})
    if repeated:
        raise ValueError(f'{what}: names {repeated} appear more than once')


def save_text_embeddings(path: str,
                         names: Sequence[str],
                         embeddings: Tensor,
                         scale: Optional[float] = None,
                         bias: Optional[float] = None,
                         meta: Optional[Dict[str, str]] = None) -> None:
    """Write a text-embedding file (format: module docstring).

    Args:
        path (str): The file.
        names (Sequence[str]): Class names, one per row.
        embeddings (Tensor): Shape [C, D].
        scale (float, optional): Logit scale of the classifier.
        bias (float, optional): Logit bias of the classifier.
        meta (dict[str, str], optional): How the embeddings were made
            (checkpoint, templates, ...).
    """
    _check(names, embeddings, repr(path))
    data = dict(names=list(names), embeddings=embeddings.detach().cpu())
    for key, value in dict(scale=scale, bias=bias).items():
        if value is not None:
            data[key] = float(value)
    if meta is not None:
        data['meta'] = {str(k): str(v) for k, v in meta.items()}
    torch.save(data, path)


def load_text_embeddings(path: str,
                         classes: Optional[Sequence[str]] = None,
                         select: bool = False) -> TextEmbeddings:
    """Read a text-embedding file, checked against a dataset's classes.

    Args:
        path (str): The file.
        classes (Sequence[str], optional): The dataset's classes
            (``metainfo['classes']``). The file's names must be these, in
            this order, unless ``select``.
        select (bool): Take the rows of ``classes`` by name from a file with
            more names (OADP's files hold COCO's and LVIS's classes
            together); each class must be in the file. Defaults to False.

    Returns:
        TextEmbeddings: Names, embeddings (rows in the order of
        ``classes`` when given), scale, bias and meta.
    """
    what = f'text embeddings {path!r}'
    data = torch_load_safely(path, 'cpu', what)
    if not isinstance(data, dict):
        raise TypeError(f'{what} holds a {type(data).__name__}, not a dict '
                        f'with {list(_KEYS[:2])}')
    data = {_ALIASES.get(k, k): v for k, v in data.items()}
    unknown = sorted(set(data) - set(_KEYS))
    missing = [k for k in _KEYS[:2] if k not in data]
    if unknown or missing:
        raise KeyError(f'{what}: ' + '; '.join(
            ([f'no {missing}'] if missing else []) +
            ([f'unknown keys {unknown}'] if unknown else [])) +
                       f' (expected {list(_KEYS)})')
    names, embeddings = list(data['names']), data['embeddings']
    _check(names, embeddings, what)
    if classes is not None:
        classes = list(classes)
        if select:
            absent = [c for c in classes if c not in names]
            if absent:
                raise ValueError(f'{what} has no class {absent[0]!r}' +
                                 (f' (nor {len(absent) - 1} more)' if len(
                                     absent) > 1 else '') + ' of the dataset')
            embeddings = embeddings[[names.index(c) for c in classes]]
            names = classes
        elif names != classes:
            raise ValueError(f'{what} does not match the dataset\'s '
                             f'{len(classes)} classes: ' +
                             _first_difference(names, classes))
    scalars = {}
    for key in ('scale', 'bias'):
        value = data.get(key)
        if isinstance(value, Tensor):
            if value.numel() != 1:
                raise ValueError(f'{what}: {key} must be one number, got '
                                 f'shape {list(value.shape)}')
            value = value.item()
        scalars[key] = None if value is None else float(value)
    return TextEmbeddings(names, embeddings, meta=data.get('meta'), **scalars)


def _first_difference(names: List[str], classes: List[str]) -> str:
    for i, (name, cls) in enumerate(zip(names, classes)):
        if name != cls:
            return (f'class {i} is {cls!r} in the dataset but {name!r} in '
                    'the file')
    if len(names) < len(classes):
        return (f'the file has {len(names)} names and lacks class '
                f'{len(names)} {classes[len(names)]!r}')
    return (f'the file has {len(names)} names, the extra first one is '
            f'{len(classes)} {names[len(classes)]!r}')


@torch.no_grad()
def prompt_ensemble(text_tower: CLIPTextTower,
                    tokenizer: CLIPTokenizer,
                    names: Sequence[str],
                    templates: Sequence[str],
                    renormalize: bool = False,
                    batch_size: int = 256) -> Tensor:
    """Prompt-ensembled class embeddings, as ViLD makes them.

    Each template (``'a photo of a {}'``) is filled with each name and
    embedded; the embeddings are L2-normalised per template and averaged
    over the templates. ViLD (and OADP's bbox head) use that mean as is,
    whose norm is below 1; ``renormalize`` makes each row unit length.

    Args:
        text_tower (CLIPTextTower): The text tower.
        tokenizer (CLIPTokenizer): Its tokenizer.
        names (Sequence[str]): Class names.
        templates (Sequence[str]): Templates with one ``{}``.
        renormalize (bool): L2-normalise the averages. Defaults to False.
        batch_size (int): Texts per forward pass. Defaults to 256.

    Returns:
        Tensor: Shape [len(names), output_dim], float32.
    """
    bad = [t for t in templates if t.count('{}') != 1]
    if bad or not templates:
        raise ValueError(f'templates need exactly one "{{}}" each: {bad}')
    if tokenizer.vocab_size != text_tower.vocab_size:
        raise ValueError(
            f'tokenizer {tokenizer.bpe_path!r} has {tokenizer.vocab_size} '
            f'tokens, the text tower {text_tower.vocab_size}')
    texts = [t.format(n) for t in templates for n in names]
    tokens = tokenizer.tokenize(texts)
    ends = tokens.argmax(-1)
    if int(ends.max()) >= text_tower.context_length:
        raise ValueError(f'{texts[int(ends.argmax())]!r} is too long for the '
                         f'text tower\'s {text_tower.context_length} tokens')
    device = text_tower.text_projection.device
    embeddings = []
    for start in range(0, len(texts), batch_size):
        # the causal mask lets rows end at their last end-of-text token
        stop = int(ends[start:start + batch_size].max()) + 1
        batch = tokens[start:start + batch_size, :stop].to(device)
        embeddings.append(F.normalize(text_tower(batch).float(), dim=-1).cpu())
    mean = torch.cat(embeddings).view(len(templates), len(names), -1).mean(0)
    return F.normalize(mean, dim=-1) if renormalize else mean
