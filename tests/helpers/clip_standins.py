# Copyright (c) mmkd contributors. All rights reserved.
"""Tiny random CLIP checkpoints in OpenAI's format (no weights can be
downloaded in tests): the keys and shapes are written out here from
OpenAI's ``clip/model.py``, independently of ``mmkd.models.clip``."""
from typing import Dict

import torch
from torch import Tensor, nn

#: a tiny ViT CLIP; widths of 128 give OpenAI's heads = width // 64 = 2
TINY = dict(
    embed_dim=32,
    vision_width=128,
    vision_layers=2,
    patch_size=8,
    grid=2,
    text_width=128,
    text_layers=2,
    context_length=12,
    vocab_size=60)


def _block_shapes(prefix: str, width: int) -> Dict[str, tuple]:
    return {
        f'{prefix}attn.in_proj_weight': (3 * width, width),
        f'{prefix}attn.in_proj_bias': (3 * width, ),
        f'{prefix}attn.out_proj.weight': (width, width),
        f'{prefix}attn.out_proj.bias': (width, ),
        f'{prefix}ln_1.weight': (width, ),
        f'{prefix}ln_1.bias': (width, ),
        f'{prefix}mlp.c_fc.weight': (4 * width, width),
        f'{prefix}mlp.c_fc.bias': (4 * width, ),
        f'{prefix}mlp.c_proj.weight': (width, 4 * width),
        f'{prefix}mlp.c_proj.bias': (width, ),
        f'{prefix}ln_2.weight': (width, ),
        f'{prefix}ln_2.bias': (width, ),
    }


def openai_clip_shapes(embed_dim, vision_width, vision_layers, patch_size,
                       grid, text_width, text_layers, context_length,
                       vocab_size) -> Dict[str, tuple]:
    """Every key of OpenAI's ViT ``CLIP.state_dict()`` with its shape."""
    shapes = {
        'visual.class_embedding': (vision_width, ),
        'visual.positional_embedding': (grid**2 + 1, vision_width),
        'visual.proj': (vision_width, embed_dim),
        'visual.conv1.weight': (vision_width, 3, patch_size, patch_size),
        'visual.ln_pre.weight': (vision_width, ),
        'visual.ln_pre.bias': (vision_width, ),
    }
    for i in range(vision_layers):
        shapes.update(
            _block_shapes(f'visual.transformer.resblocks.{i}.', vision_width))
    shapes.update({
        'visual.ln_post.weight': (vision_width, ),
        'visual.ln_post.bias': (vision_width, ),
        'positional_embedding': (context_length, text_width),
        'text_projection': (text_width, embed_dim),
        'logit_scale': (),
    })
    for i in range(text_layers):
        shapes.update(_block_shapes(f'transformer.resblocks.{i}.', text_width))
    shapes.update({
        'token_embedding.weight': (vocab_size, text_width),
        'ln_final.weight': (text_width, ),
        'ln_final.bias': (text_width, ),
    })
    return shapes


def random_openai_clip(seed: int = 0,
                       dtype=torch.float16,
                       jit_meta: bool = False,
                       **arch) -> Dict[str, Tensor]:
    """A random OpenAI-format state dict (float16 as OpenAI's files).

    Layer-norm weights are near 1 and matrices scaled by their fan-in so the
    activations stay of order 1; ``jit_meta`` adds the scalars OpenAI's
    TorchScript archives carry (``input_resolution``, ...).
    """
    arch = dict(TINY, **arch)
    gen = torch.Generator().manual_seed(seed)
    state_dict = {}
    for key, shape in openai_clip_shapes(**arch).items():
        value = torch.randn(shape, generator=gen)
        if key.endswith(('ln_1.weight', 'ln_2.weight', 'ln_pre.weight',
                         'ln_post.weight', 'ln_final.weight')):
            value = 1 + 0.1 * value
        elif len(shape) >= 2 and not key.endswith('positional_embedding'):
            # x @ proj for the projections, x @ weight.T for the rest
            fan_in = shape[0] if key in ('visual.proj', 'text_projection') \
                else torch.Size(shape[1:]).numel()
            value = value * fan_in**-0.5
        else:
            value = 0.1 * value
        state_dict[key] = value.to(dtype)
    state_dict['logit_scale'] = torch.tensor(4.6052).to(dtype)
    if jit_meta:
        state_dict.update(
            input_resolution=torch.tensor(arch['patch_size'] * arch['grid']),
            context_length=torch.tensor(arch['context_length']),
            vocab_size=torch.tensor(arch['vocab_size']))
    return state_dict


class _Holder(nn.Module):
    """Holds tensors under dotted names (submodules made on the way); its
    ``forward`` is the identity, enough for ``torch.jit.script``."""

    def __init__(self, state_dict: Dict[str, Tensor]):
        super().__init__()
        for key, value in state_dict.items():
            *path, name = key.split('.')
            module = self
            for part in path:
                if not hasattr(module, part):
                    module.add_module(part, nn.Module())
                module = getattr(module, part)
            if value.is_floating_point():
                module.register_parameter(name, nn.Parameter(value.clone()))
            else:
                module.register_buffer(name, value.clone())

    def forward(self, x: Tensor) -> Tensor:
        return x


def save_torchscript(state_dict: Dict[str, Tensor], path: str) -> str:
    """Save ``state_dict`` as a TorchScript archive, as OpenAI ships CLIP."""
    torch.jit.script(_Holder(state_dict)).save(path)
    return path
