# Copyright (c) mmkd contributors. All rights reserved.
"""OpenAI CLIP checkpoints: reading, architecture inference, strict loading.

OpenAI publishes CLIP as TorchScript archives (``ViT-B-32.pt``); a plain
state dict with the same keys (``torch.save(model.state_dict())``) works
too. Keys are OpenAI's: the image tower under ``visual.``, the text tower at
the top level (``token_embedding.weight``, ``positional_embedding``,
``transformer.resblocks.<i>.*``, ``ln_final.*``, ``text_projection``,
``logit_scale``); TorchScript archives add ``input_resolution``,
``context_length`` and ``vocab_size``, checked here and not loaded. The
architecture is read off the shapes as OpenAI's ``build_model`` does.
"""
import hashlib
import os
import os.path as osp
import re
import zipfile
from typing import Dict, Mapping, Optional

import torch
from torch import Tensor, nn

from mmkd.utils.checkpoint import torch_load_safely

__all__ = [
    'CLIP_MODEL_URLS', 'clip_text_config', 'clip_vision_config',
    'load_clip_state_dict', 'load_state_dict_strictly',
    'resolve_clip_checkpoint'
]

#: OpenAI's ViT checkpoints (openai/CLIP ``clip/clip.py``); the folder of
#: each URL is the file's SHA-256. Never downloaded by the tests.
CLIP_MODEL_URLS = {
    'ViT-B/32':
    'https://openaipublic.azureedge.net/clip/models/'
    '40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/'
    'ViT-B-32.pt',
    'ViT-B/16':
    'https://openaipublic.azureedge.net/clip/models/'
    '5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f/'
    'ViT-B-16.pt',
    'ViT-L/14':
    'https://openaipublic.azureedge.net/clip/models/'
    'b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836/'
    'ViT-L-14.pt',
    'ViT-L/14@336px':
    'https://openaipublic.azureedge.net/clip/models/'
    '3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02/'
    'ViT-L-14-336px.pt',
}

#: scalars of OpenAI's TorchScript archives; no parameter of either tower
META_KEYS = ('input_resolution', 'context_length', 'vocab_size')

#: the keys of the text tower (top level of OpenAI's state dict)
TEXT_KEY = re.compile(r'(token_embedding\.weight|positional_embedding|'
                      r'ln_final\.(weight|bias)|text_projection|logit_scale|'
                      r'transformer\.resblocks\.\d+\..+)$')
VISION_PREFIX = 'visual.'
# OpenAI's heads rule: one head per 64 channels
HEAD_WIDTH = 64


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def resolve_clip_checkpoint(name: str, cache_dir: Optional[str] = None) -> str:
    """A local path for ``name``: an existing file, or one of
    :data:`CLIP_MODEL_URLS` downloaded once into ``cache_dir`` and checked
    against the SHA-256 in its URL.

    Args:
        name (str): A file path or a model name such as ``'ViT-B/32'``.
        cache_dir (str, optional): Download folder. Defaults to
            ``<torch hub dir>/clip``.

    Returns:
        str: The path of the checkpoint file.
    """
    if osp.isfile(osp.expanduser(name)):
        return osp.expanduser(name)
    if name not in CLIP_MODEL_URLS:
        raise FileNotFoundError(
            f'CLIP checkpoint {name!r} is neither a file nor one of OpenAI\'s '
            f'models {sorted(CLIP_MODEL_URLS)}')
    url = CLIP_MODEL_URLS[name]
    sha256 = url.split('/')[-2]
    cache_dir = cache_dir or osp.join(torch.hub.get_dir(), 'clip')
    os.makedirs(cache_dir, exist_ok=True)
    path = osp.join(cache_dir, osp.basename(url))
    if not osp.isfile(path):
        # writes to a temporary file first: no partial file is left behind
        torch.hub.download_url_to_file(url, path, progress=True)
    found = _sha256(path)
    if found != sha256:
        raise ValueError(
            f'CLIP checkpoint {path!r} (for {name!r}, from {url}) has '
            f'SHA-256 {found}, not {sha256}: it is truncated or another '
            'file; delete it to download it again')
    return path


def _is_torchscript(path: str) -> bool:
    """TorchScript archives are zip files with ``<name>/constants.pkl``;
    ``torch.save`` zip files have none."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(
            entry.split('/')[-1] == 'constants.pkl' and entry.count('/') == 1
            for entry in archive.namelist())


def load_clip_state_dict(filename: str) -> Dict[str, Tensor]:
    """Read an OpenAI CLIP checkpoint on the CPU, as OpenAI's ``clip.load``
    accepts it: a TorchScript archive or a plain state dict.

    The state dict is read with ``weights_only=True`` (no pickled code
    runs). A TorchScript archive is loaded with ``torch.jit.load``, which
    compiles its TorchScript code but runs none of it here.

    Args:
        filename (str): A file path or a name of :data:`CLIP_MODEL_URLS`.

    Returns:
        dict[str, Tensor]: OpenAI's keys and tensors (float16 for OpenAI's
        files), the TorchScript scalars of :data:`META_KEYS` included.
    """
    path = resolve_clip_checkpoint(filename)
    what = f'CLIP checkpoint {path!r}'
    if _is_torchscript(path):
        state_dict = torch.jit.load(path, map_location='cpu').state_dict()
    else:
        state_dict = torch_load_safely(path, 'cpu', what)
    if isinstance(state_dict, Mapping) and isinstance(
            state_dict.get('state_dict'), Mapping):
        state_dict = state_dict['state_dict']
    if not isinstance(state_dict, Mapping) or not all(
            isinstance(v, Tensor) for v in state_dict.values()):
        raise TypeError(f'{what} holds a {type(state_dict).__name__}, not a '
                        'TorchScript archive or a state dict of tensors')
    return dict(state_dict)


def _key(state_dict: Mapping, key: str, what: str, part: str) -> Tensor:
    if key not in state_dict:
        raise KeyError(
            f'{what} has no {key!r}: not the {part} of an OpenAI CLIP '
            'ViT state dict')
    return state_dict[key]


def _num_layers(state_dict: Mapping, prefix: str, what: str) -> int:
    """The number of ``<prefix><i>.`` blocks, checked to be 0..n-1."""
    pattern = re.compile(re.escape(prefix) + r'(\d+)\.')
    found = {int(m.group(1)) for m in map(pattern.match, state_dict) if m}
    if not found:
        raise KeyError(f'{what} has no {prefix}<i>.* keys')
    if found != set(range(len(found))):
        gaps = sorted(set(range(max(found) + 1)) - found)
        raise KeyError(f'{what} has blocks {prefix}<i> up to {max(found)} '
                       f'but none with i in {gaps}')
    return len(found)


def _heads(width: int, heads: Optional[int], what: str) -> int:
    if heads is not None:
        return heads
    if width % HEAD_WIDTH:
        raise ValueError(
            f'{what}: width {width} is no multiple of {HEAD_WIDTH}, so '
            'OpenAI\'s rule heads = width // 64 does not apply; give heads')
    return width // HEAD_WIDTH


def _check_meta(state_dict: Mapping, key: str, value: int, what: str):
    if key in state_dict and int(state_dict[key]) != value:
        raise ValueError(
            f'{what}: {key!r} is {int(state_dict[key])} but the weights\' '
            f'shapes give {value}')


def clip_vision_config(state_dict: Mapping,
                       what: str = 'CLIP state dict',
                       heads: Optional[int] = None) -> dict:
    """The image tower's architecture, read off an OpenAI state dict as
    OpenAI's ``build_model`` does.

    Args:
        state_dict (Mapping): OpenAI's keys (image tower under ``visual.``).
        what (str): How to name the state dict in errors.
        heads (int, optional): Attention heads. Defaults to
            ``width // 64``, OpenAI's rule.

    Returns:
        dict: ``width``, ``layers``, ``heads``, ``patch_size``,
        ``input_resolution`` and ``output_dim``, the arguments of
        :class:`~mmkd.models.clip.CLIPImageTower`.
    """
    conv1 = _key(state_dict, 'visual.conv1.weight', what, 'image tower')
    pos_embed = _key(state_dict, 'visual.positional_embedding', what,
                     'image tower')
    proj = _key(state_dict, 'visual.proj', what, 'image tower')
    width, patch_size = conv1.shape[0], conv1.shape[-1]
    grid = round((pos_embed.shape[0] - 1)**0.5)
    if grid**2 + 1 != pos_embed.shape[0]:
        raise ValueError(
            f'{what}: \'visual.positional_embedding\' has '
            f'{pos_embed.shape[0]} rows, not 1 + a square grid of patches')
    config = dict(
        width=width,
        layers=_num_layers(state_dict, 'visual.transformer.resblocks.', what),
        heads=_heads(width, heads, what),
        patch_size=patch_size,
        input_resolution=patch_size * grid,
        output_dim=proj.shape[1])
    _check_meta(state_dict, 'input_resolution', config['input_resolution'],
                what)
    return config


def clip_text_config(state_dict: Mapping,
                     what: str = 'CLIP state dict',
                     heads: Optional[int] = None) -> dict:
    """The text tower's architecture, read off an OpenAI state dict as
    OpenAI's ``build_model`` does.

    Args:
        state_dict (Mapping): OpenAI's keys (text tower at the top level).
        what (str): How to name the state dict in errors.
        heads (int, optional): Attention heads. Defaults to
            ``width // 64``, OpenAI's rule.

    Returns:
        dict: ``width``, ``layers``, ``heads``, ``context_length``,
        ``vocab_size`` and ``output_dim``, the arguments of
        :class:`~mmkd.models.clip.CLIPTextTower`.
    """
    width = _key(state_dict, 'ln_final.weight', what, 'text tower').shape[0]
    config = dict(
        width=width,
        layers=_num_layers(state_dict, 'transformer.resblocks.', what),
        heads=_heads(width, heads, what),
        context_length=_key(state_dict, 'positional_embedding', what,
                            'text tower').shape[0],
        vocab_size=_key(state_dict, 'token_embedding.weight', what,
                        'text tower').shape[0],
        output_dim=_key(state_dict, 'text_projection', what,
                        'text tower').shape[1])
    for key in ('context_length', 'vocab_size'):
        _check_meta(state_dict, key, config[key], what)
    return config


def tower_state_dict(state_dict: Mapping, tower: str,
                     what: str) -> Dict[str, Tensor]:
    """The keys of one tower, ``visual.`` stripped for the image tower.

    Keys that belong to neither tower (nor :data:`META_KEYS`) are an error:
    they mean the file is not what the caller thinks it is.
    """
    strangers = [
        k for k in state_dict if not k.startswith(VISION_PREFIX)
        and k not in META_KEYS and not TEXT_KEY.match(k)
    ]
    if strangers:
        raise KeyError(
            f'{what} has keys of neither CLIP tower: {strangers[:10]}' +
            (f' (and {len(strangers) - 10} more)' if len(strangers) >
             10 else ''))
    if tower == 'image':
        return {
            k[len(VISION_PREFIX):]: v
            for k, v in state_dict.items() if k.startswith(VISION_PREFIX)
        }
    return {k: v for k, v in state_dict.items() if TEXT_KEY.match(k)}


def read_checkpoint(checkpoint) -> tuple:
    """``(state_dict, what)`` for a tower's ``checkpoint`` argument: a
    file (see :func:`load_clip_state_dict`), a state dict, or None."""
    if checkpoint is None:
        return None, None
    if isinstance(checkpoint, Mapping):
        return checkpoint, 'CLIP state dict'
    return load_clip_state_dict(checkpoint), f'CLIP checkpoint {checkpoint!r}'


def merge_arch(given: dict, found: dict, what: str) -> dict:
    """``found`` (read off a checkpoint) where ``given`` is None; a given
    value that differs is an error, since the checkpoint would not load."""
    clashes = [
        f'{k}={given[k]} (the checkpoint has {found[k]})' for k in found
        if given.get(k) is not None and given[k] != found[k]
    ]
    if clashes:
        raise ValueError(f'{what} does not fit the given architecture: ' +
                         ', '.join(clashes))
    return {k: found[k] if given.get(k) is None else given[k] for k in found}


def load_state_dict_strictly(module: nn.Module,
                             state_dict: Mapping,
                             what: str,
                             prefix: str = '') -> None:
    """Copy ``state_dict`` into ``module``; any missing, unexpected or
    mis-shaped key is an error naming it (with ``prefix``, as in the file)
    and, for shapes, both shapes.

    Args:
        module (nn.Module): The tower to load.
        state_dict (Mapping): Its keys, without ``prefix``.
        what (str): How to name the file in errors.
        prefix (str): The tower's prefix in the file, e.g. ``'visual.'``.
    """
    own = module.state_dict()
    missing = [prefix + k for k in own if k not in state_dict]
    unexpected = [prefix + k for k in state_dict if k not in own]
    mis_shaped = [
        f'{prefix + k!r}: {list(v.shape)} in the file, '
        f'{list(own[k].shape)} in {type(module).__name__}'
        for k, v in state_dict.items() if k in own and v.shape != own[k].shape
    ]
    problems = []
    if missing:
        problems.append(f'missing keys {missing}')
    if unexpected:
        problems.append(f'unexpected keys {unexpected}')
    if mis_shaped:
        problems.append('mis-shaped keys ' + '; '.join(mis_shaped))
    if problems:
        raise ValueError(f'{what} does not fit {type(module).__name__}: ' +
                         ', '.join(problems))
    module.load_state_dict(state_dict, strict=True)
