# Copyright (c) mmkd contributors. All rights reserved.
"""The transformer of both CLIP towers, in OpenAI's layout.

Submodule and parameter names follow OpenAI's CLIP (``ln_1``, ``attn`` as an
``nn.MultiheadAttention`` with ``in_proj_weight``/``in_proj_bias`` and
``out_proj``, ``ln_2``, ``mlp.c_fc``, ``mlp.c_proj``), so that an OpenAI
state dict loads without renaming. Tokens are laid out sequence first
(L, N, D), as in OpenAI's code, so outputs match it operation for operation.
"""
from collections import OrderedDict
from typing import Optional

import torch
from torch import Tensor, nn


class LayerNorm(nn.LayerNorm):
    """``nn.LayerNorm`` computed in float32 whatever the input's dtype:
    OpenAI's checkpoints are float16, whose statistics overflow."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.float()).to(x.dtype)


class QuickGELU(nn.Module):
    """``x * sigmoid(1.702 * x)``: the GELU approximation CLIP was trained
    with (``nn.GELU`` gives different outputs)."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    """Pre-norm block: ``x + attn(ln_1(x))``, then ``x + mlp(ln_2(x))``.

    Args:
        width (int): Token width D.
        heads (int): Attention heads; ``width`` must be a multiple.
    """

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = LayerNorm(width)
        self.mlp = nn.Sequential(
            OrderedDict([('c_fc', nn.Linear(width, width * 4)),
                         ('gelu', QuickGELU()),
                         ('c_proj', nn.Linear(width * 4, width))]))
        self.ln_2 = LayerNorm(width)

    def attention(self,
                  x: Tensor,
                  attn_mask: Optional[Tensor] = None) -> Tensor:
        """Self-attention of ``x`` (L, N, D) with an additive mask (L, L)."""
        if attn_mask is not None:
            attn_mask = attn_mask.to(dtype=x.dtype, device=x.device)
        return self.attn(x, x, x, need_weights=False, attn_mask=attn_mask)[0]

    def forward(self, x: Tensor, attn_mask: Optional[Tensor] = None) -> Tensor:
        x = x + self.attention(self.ln_1(x), attn_mask)
        return x + self.mlp(self.ln_2(x))

    def forward_token(self,
                      token: Tensor,
                      keys: Tensor,
                      attn_bias: Optional[Tensor] = None) -> Tensor:
        """This block for an extra token that reads ``keys`` without
        changing them: ``token`` (1, N, D) is the only query, ``keys``
        (S, N, D) and the token itself the keys and values (OADP's [OBJ]
        token, whose keys are the image tokens entering the block).

        Args:
            token (Tensor): The extra token, (1, N, D).
            keys (Tensor): The tokens it attends to, (S, N, D).
            attn_bias (Tensor, optional): Additive attention bias
                (N * heads, 1, S + 1), sample-major, the token's own
                column last.

        Returns:
            Tensor: The updated token, (1, N, D).
        """
        kv = self.ln_1(torch.cat([keys, token]))
        if attn_bias is not None:
            attn_bias = attn_bias.to(dtype=kv.dtype, device=kv.device)
        token = token + self.attn(
            kv[-1:], kv, kv, need_weights=False, attn_mask=attn_bias)[0]
        return token + self.mlp(self.ln_2(token))


class Transformer(nn.Module):
    """A stack of :class:`ResidualAttentionBlock` under ``resblocks``.

    Args:
        width (int): Token width D.
        layers (int): Number of blocks.
        heads (int): Attention heads per block.
    """

    def __init__(self, width: int, layers: int, heads: int):
        super().__init__()
        if width % heads:
            raise ValueError(
                f'CLIP transformer width {width} is not a multiple of its '
                f'{heads} heads')
        self.width = width
        self.layers = layers
        self.heads = heads
        self.resblocks = nn.ModuleList(
            ResidualAttentionBlock(width, heads) for _ in range(layers))

    def forward(self, x: Tensor, attn_mask: Optional[Tensor] = None) -> Tensor:
        """Run all blocks on ``x`` (L, N, D), each with ``attn_mask``."""
        for block in self.resblocks:
            x = block(x, attn_mask)
        return x
