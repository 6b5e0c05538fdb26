# Copyright (c) mmkd contributors. All rights reserved.
from typing import Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmkd.registry import MODELS
from .checkpoint import (VISION_PREFIX, clip_vision_config,
                         load_state_dict_strictly, merge_arch, read_checkpoint,
                         tower_state_dict)
from .layers import LayerNorm, Transformer

_ARCH = ('width', 'layers', 'heads', 'patch_size', 'input_resolution',
         'output_dim')


def interpolate_pos_embed(pos_embed: Tensor,
                          grid: Union[int, Sequence[int]]) -> Tensor:
    """Resize a ViT positional embedding to another grid of patches.

    The class token's row is kept; the patch rows, a square grid, are
    resized bicubically (in float32) as a ``(D, g, g)`` image.

    Args:
        pos_embed (Tensor): Shape (1 + g * g, D).
        grid (int | Sequence[int]): The new grid, ``(h, w)`` or a side.

    Returns:
        Tensor: Shape (1 + h * w, D), ``pos_embed`` itself when the grid
        does not change.
    """
    h, w = (grid, grid) if isinstance(grid, int) else tuple(grid)
    side = round((pos_embed.shape[0] - 1)**0.5)
    if side**2 + 1 != pos_embed.shape[0]:
        raise ValueError(
            f'positional embedding of shape {list(pos_embed.shape)} is not '
            '1 + a square grid of patches')
    if (h, w) == (side, side):
        return pos_embed
    patches = pos_embed[1:].float().reshape(1, side, side, -1)
    patches = F.interpolate(
        patches.permute(0, 3, 1, 2),
        size=(h, w),
        mode='bicubic',
        align_corners=False)
    patches = patches.permute(0, 2, 3, 1).reshape(h * w, -1)
    return torch.cat([pos_embed[:1], patches.to(pos_embed.dtype)])


@MODELS.register_module()
class CLIPImageTower(BaseModule):
    """CLIP's image tower (ViT) with OpenAI's parameter names.

    ``forward`` gives the projected class-token embedding, not normalised,
    as OpenAI's ``encode_image``. Built either from explicit
    hyper-parameters or from an OpenAI checkpoint, whose shapes give those
    not given (an explicit one must agree with them, ``heads`` excepted).

    Inputs of another size than ``input_resolution`` (OADP's global view at
    full resolution) or a patch stride below the patch size (OADP's object
    view: stride 16, padding 15 on ViT-B/32 gives a 14x14 grid at 224 px)
    give another grid of patches; the positional embedding is then resized
    by :func:`interpolate_pos_embed` if ``resize_pos_embed`` is set, and
    the input refused otherwise.

    Args:
        width (int, optional): Token width.
        layers (int, optional): Transformer blocks.
        heads (int, optional): Attention heads. Defaults to ``width // 64``
            (at least 1).
        patch_size (int, optional): Side of the patch embedding's kernel.
        input_resolution (int, optional): Image side the positional
            embedding is for (``patch_size`` times its grid).
        output_dim (int, optional): Embedding width after ``proj``.
        checkpoint (str | Mapping, optional): An OpenAI CLIP checkpoint
            (TorchScript archive or state dict, path or name of
            ``CLIP_MODEL_URLS``) or its state dict, loaded strictly.
        patch_stride (int, optional): Stride of the patch embedding.
            Defaults to ``patch_size``.
        patch_padding (int): Zero padding of the patch embedding.
            Defaults to 0.
        resize_pos_embed (bool): Accept inputs whose grid of patches
            differs from the positional embedding's. Defaults to False.
        init_cfg (dict, optional): MMEngine's initialisation config.
    """

    def __init__(self,
                 width: Optional[int] = None,
                 layers: Optional[int] = None,
                 heads: Optional[int] = None,
                 patch_size: Optional[int] = None,
                 input_resolution: Optional[int] = None,
                 output_dim: Optional[int] = None,
                 checkpoint: Optional[Union[str, Mapping]] = None,
                 patch_stride: Optional[int] = None,
                 patch_padding: int = 0,
                 resize_pos_embed: bool = False,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg)
        arch = dict(
            width=width,
            layers=layers,
            heads=heads,
            patch_size=patch_size,
            input_resolution=input_resolution,
            output_dim=output_dim)
        state_dict, what = read_checkpoint(checkpoint)
        if state_dict is not None:
            arch = merge_arch(arch, clip_vision_config(state_dict, what,
                                                       heads), what)
        elif heads is None and width is not None:
            # OpenAI's rule, at least one head for tiny test towers
            arch['heads'] = max(width // 64, 1)
        missing = [k for k in _ARCH if arch[k] is None]
        if missing:
            raise ValueError(f'CLIPImageTower needs {missing} (or a '
                             'checkpoint to read them from)')
        self._build(
            **arch, patch_stride=patch_stride, patch_padding=patch_padding)
        self.resize_pos_embed = resize_pos_embed
        if state_dict is not None:
            load_state_dict_strictly(
                self, tower_state_dict(state_dict, 'image', what), what,
                VISION_PREFIX)

    def _build(self, width: int, layers: int, heads: int, patch_size: int,
               input_resolution: int, output_dim: int,
               patch_stride: Optional[int], patch_padding: int) -> None:
        if input_resolution % patch_size:
            raise ValueError(f'CLIPImageTower: input_resolution '
                             f'{input_resolution} is no multiple of '
                             f'patch_size {patch_size}')
        self.arch = dict(
            width=width,
            layers=layers,
            heads=heads,
            patch_size=patch_size,
            input_resolution=input_resolution,
            output_dim=output_dim)
        self.input_resolution = input_resolution
        self.patch_size = patch_size
        self.output_dim = output_dim
        self.grid = input_resolution // patch_size
        self.conv1 = nn.Conv2d(
            3,
            width,
            kernel_size=patch_size,
            stride=patch_stride or patch_size,
            padding=patch_padding,
            bias=False)
        scale = width**-0.5
        # OpenAI's initialisation, for trained-from-scratch teachers
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(
            scale * torch.randn(self.grid**2 + 1, width))
        self.ln_pre = LayerNorm(width)
        self.transformer = Transformer(width, layers, heads)
        self.ln_post = LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, output_dim))

    def pos_embed(self, grid: Tuple[int, int]) -> Tensor:
        """The positional embedding (1 + h * w, D) for a grid ``(h, w)``."""
        if tuple(grid) != (self.grid, self.grid) and \
                not self.resize_pos_embed:
            raise ValueError(
                f'CLIPImageTower: the input gives a {grid[0]}x{grid[1]} grid '
                f'of patches, the positional embedding is for '
                f'{self.grid}x{self.grid} (input_resolution '
                f'{self.input_resolution}, patch_size {self.patch_size}, '
                f'stride {self.conv1.stride[0]}); resize the input or set '
                'resize_pos_embed=True')
        return interpolate_pos_embed(self.positional_embedding, grid)

    def embed(self,
              x: Tensor,
              patch_stride: Optional[int] = None,
              patch_padding: Optional[int] = None) -> Tensor:
        """Images (N, 3, H, W) to tokens (1 + h * w, N, D) after
        ``ln_pre``, class token first.

        ``patch_stride`` and ``patch_padding`` override the tower's for this
        call (OADP runs one tower at stride 32 and at stride 16); another
        grid of patches needs ``resize_pos_embed``.
        """
        x = x.to(self.conv1.weight.dtype)
        if patch_stride is None and patch_padding is None:
            x = self.conv1(x)
        else:
            x = F.conv2d(
                x,
                self.conv1.weight,
                stride=patch_stride or self.conv1.stride,
                padding=self.conv1.padding
                if patch_padding is None else patch_padding)
        grid = x.shape[-2:]
        x = x.flatten(2).transpose(1, 2)  # N, h * w, D
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1)
        x = x + self.pos_embed(grid).to(x.dtype)
        return self.ln_pre(x).transpose(0, 1)

    def project(self, x: Tensor) -> Tensor:
        """Tokens (..., D) to embeddings (..., output_dim): ``ln_post``, then
        ``proj``."""
        return self.ln_post(x) @ self.proj

    def forward(self, x: Tensor) -> Tensor:
        """Images (N, 3, H, W) to embeddings (N, output_dim), not
        normalised."""
        x = self.transformer(self.embed(x))
        return self.project(x[0])

    def forward_with_token(
            self,
            x: Tensor,
            patch_bias: Optional[Tensor] = None,
            patch_stride: Optional[int] = None,
            patch_padding: Optional[int] = None) -> Tuple[Tensor, Tensor]:
        """Run the tower with an extra token beside the class token.

        The extra token starts as a copy of the class token after
        ``ln_pre``; in each block it is the only query of an attention
        whose keys and values are the patch tokens entering the block and
        itself, with ``patch_bias`` added to the patches' logits (OADP's
        [OBJ] token: -100 on patches outside the object). The class and
        patch tokens go through the tower as in :meth:`forward`, untouched
        by the extra token. Both leave through ``ln_post`` and ``proj``.

        Args:
            x (Tensor): Images (N, 3, H, W).
            patch_bias (Tensor, optional): Additive attention bias on the
                patches, (N, h * w) in the row-major order of the grid of
                patches (``(N, h, w)`` is accepted).
            patch_stride (int, optional): See :meth:`embed`.
            patch_padding (int, optional): See :meth:`embed`.

        Returns:
            tuple[Tensor, Tensor]: The class token's and the extra token's
            embeddings, each (N, output_dim), not normalised.
        """
        tokens = self.embed(x, patch_stride, patch_padding)
        num_patches, n = tokens.shape[0] - 1, tokens.shape[1]
        bias = None
        if patch_bias is not None:
            if patch_bias.dim() == 3:
                patch_bias = patch_bias.flatten(1)
            if tuple(patch_bias.shape) != (n, num_patches):
                raise ValueError(
                    f'CLIPImageTower: patch_bias has shape '
                    f'{list(patch_bias.shape)}, the images give {n} x '
                    f'{num_patches} patches')
            # the extra token's own column is last, unbiased
            bias = torch.cat([patch_bias, patch_bias.new_zeros(n, 1)], 1)
            bias = bias[:, None].repeat_interleave(
                self.transformer.heads, dim=0)
        token = tokens[:1]
        for block in self.transformer.resblocks:
            token = block.forward_token(token, tokens[1:], bias)
            tokens = block(tokens)
        return self.project(tokens[0]), self.project(token[0])
