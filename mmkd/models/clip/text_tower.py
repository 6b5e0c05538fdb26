# Copyright (c) mmkd contributors. All rights reserved.
import math
from typing import Mapping, Optional, Union

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmkd.registry import MODELS
from .checkpoint import (clip_text_config, load_state_dict_strictly,
                         merge_arch, read_checkpoint, tower_state_dict)
from .layers import LayerNorm, Transformer

_ARCH = ('width', 'layers', 'heads', 'context_length', 'vocab_size',
         'output_dim')


@MODELS.register_module()
class CLIPTextTower(BaseModule):
    """CLIP's text tower with OpenAI's parameter names.

    A causal transformer over token ids; the embedding of a text is the
    ``ln_final`` output at its end-of-text token, projected by
    ``text_projection`` (not normalised, as OpenAI's ``encode_text``). The
    end-of-text token has the highest id of the vocabulary, so its position
    is the row's ``argmax``. Built from explicit hyper-parameters or from an
    OpenAI checkpoint, as :class:`~mmkd.models.clip.CLIPImageTower`.

    Token rows shorter than ``context_length`` are accepted: with the causal
    mask, the tokens up to the end-of-text token do not see the padding
    after it, so a row cut after its end-of-text token gives the same
    embedding as the padded row, for less compute.

    Args:
        width (int, optional): Token width.
        layers (int, optional): Transformer blocks.
        heads (int, optional): Attention heads. Defaults to ``width // 64``
            (at least 1).
        context_length (int, optional): Longest token row (77 in OpenAI's
            models).
        vocab_size (int, optional): Rows of ``token_embedding``.
        output_dim (int, optional): Embedding width after
            ``text_projection``.
        checkpoint (str | Mapping, optional): An OpenAI CLIP checkpoint
            (TorchScript archive or state dict, path or name of
            ``CLIP_MODEL_URLS``) or its state dict, loaded strictly; its
            image tower is not read.
        init_cfg (dict, optional): MMEngine's initialisation config.
    """

    def __init__(self,
                 width: Optional[int] = None,
                 layers: Optional[int] = None,
                 heads: Optional[int] = None,
                 context_length: Optional[int] = None,
                 vocab_size: Optional[int] = None,
                 output_dim: Optional[int] = None,
                 checkpoint: Optional[Union[str, Mapping]] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg)
        arch = dict(
            width=width,
            layers=layers,
            heads=heads,
            context_length=context_length,
            vocab_size=vocab_size,
            output_dim=output_dim)
        state_dict, what = read_checkpoint(checkpoint)
        if state_dict is not None:
            arch = merge_arch(arch, clip_text_config(state_dict, what, heads),
                              what)
        elif heads is None and width is not None:
            # OpenAI's rule, at least one head for tiny test towers
            arch['heads'] = max(width // 64, 1)
        missing = [k for k in _ARCH if arch[k] is None]
        if missing:
            raise ValueError(f'CLIPTextTower needs {missing} (or a '
                             'checkpoint to read them from)')
        self._build(**arch)
        if state_dict is not None:
            load_state_dict_strictly(
                self, tower_state_dict(state_dict, 'text', what), what)

    def _build(self, width: int, layers: int, heads: int, context_length: int,
               vocab_size: int, output_dim: int) -> None:
        self.arch = dict(
            width=width,
            layers=layers,
            heads=heads,
            context_length=context_length,
            vocab_size=vocab_size,
            output_dim=output_dim)
        self.context_length = context_length
        self.vocab_size = vocab_size
        self.output_dim = output_dim
        self.transformer = Transformer(width, layers, heads)
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.positional_embedding = nn.Parameter(
            torch.empty(context_length, width))
        self.ln_final = LayerNorm(width)
        self.text_projection = nn.Parameter(torch.empty(width, output_dim))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        # additive causal mask; not in OpenAI's state dict
        self.register_buffer(
            'attn_mask',
            torch.full((context_length, context_length),
                       float('-inf')).triu_(1),
            persistent=False)
        # OpenAI's initialisation, for trained-from-scratch towers
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        nn.init.normal_(self.text_projection, std=width**-0.5)
        proj_std = width**-0.5 * (2 * layers)**-0.5
        for block in self.transformer.resblocks:
            nn.init.normal_(block.attn.in_proj_weight, std=width**-0.5)
            nn.init.normal_(block.attn.out_proj.weight, std=proj_std)
            nn.init.normal_(block.mlp.c_fc.weight, std=(2 * width)**-0.5)
            nn.init.normal_(block.mlp.c_proj.weight, std=proj_std)

    def encode_tokens(self, tokens: Tensor) -> Tensor:
        """Token ids (N, L), ``L <= context_length``, to the ``ln_final``
        outputs (N, L, width) of all positions."""
        if tokens.dim() != 2 or tokens.shape[1] > self.context_length:
            raise ValueError(
                f'CLIPTextTower takes token ids of shape (N, L) with L <= '
                f'{self.context_length}, got {list(tokens.shape)}')
        length = tokens.shape[1]
        x = self.token_embedding(tokens)
        x = x + self.positional_embedding[:length].to(x.dtype)
        x = self.transformer(
            x.transpose(0, 1), self.attn_mask[:length, :length])
        return self.ln_final(x.transpose(0, 1))

    def forward(self, tokens: Tensor) -> Tensor:
        """Token ids (N, L) to text embeddings (N, output_dim) taken at each
        row's end-of-text token (its highest id), not normalised."""
        x = self.encode_tokens(tokens)
        eot = tokens.argmax(dim=-1)
        x = x[torch.arange(x.shape[0], device=x.device), eot]
        return x @ self.text_projection
