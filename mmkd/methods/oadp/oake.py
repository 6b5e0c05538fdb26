# Copyright (c) mmkd contributors. All rights reserved.
"""OAKE: object-aware knowledge extraction, OADP's offline CLIP teacher.

A frozen CLIP image tower embeds three views of each image
(:mod:`.views`): the global image, blocks and object proposals; all
embeddings are L2-normalised. Objects run the tower at half its patch
stride (ViT-B/32: stride 16, padding 15, 14x14 patches at 224 px, the
positional embedding resized) with an [OBJ] token
(:meth:`~mmkd.models.clip.CLIPImageTower.forward_with_token`) whose
attention to patches outside the proposal is biased by -100.
"""
import json
from typing import Dict, Mapping, Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmkd.models.clip import CLIPImageTower, clip_normalize
from mmkd.registry import MODELS
from .views import (block_view, global_view, object_view, patch_grid,
                    valid_proposals)

__all__ = ['OAKE']


class OAKE(nn.Module):
    """The OAKE teacher: a frozen CLIP image tower and the three views.

    Args:
        tower (CLIPImageTower | dict | str): The image tower, its config
            (``dict(type='CLIPImageTower', ...)``), or an OpenAI CLIP
            checkpoint (path, name or state dict).
        block_size (int, optional): Window side. Defaults to the tower's
            ``input_resolution`` (224).
        max_stride (int): Largest stride between windows. Defaults to 112.
        rescale (float): Shrinking between block levels. Defaults to 1.5.
        faithful_block0_box (bool): Block 0's box as official ``main``
            writes it (see :func:`~.views.block0_box`). Defaults to False.
        expand_ratio (float): Object square area over proposal area.
            Defaults to 8.
        min_size (float): Proposals narrower or lower are dropped.
            Defaults to 4.
        object_stride (int, optional): Patch stride of the object view.
            Defaults to half the patch size.
        object_padding (int, optional): Its zero padding. Defaults to
            ``(patch_size - 1) // 2``.
        mask_bias (float): [OBJ]'s attention bias on patches outside the
            proposal. Defaults to -100.
        batch_size (int): Blocks or objects per forward. Defaults to 64.
    """

    def __init__(self,
                 tower: Union[CLIPImageTower, dict, str, Mapping],
                 block_size: Optional[int] = None,
                 max_stride: int = 112,
                 rescale: float = 1.5,
                 faithful_block0_box: bool = False,
                 expand_ratio: float = 8.,
                 min_size: float = 4.,
                 object_stride: Optional[int] = None,
                 object_padding: Optional[int] = None,
                 mask_bias: float = -100.,
                 batch_size: int = 64) -> None:
        super().__init__()
        if isinstance(tower, Mapping) and 'type' in tower:
            tower = MODELS.build(tower)
        elif not isinstance(tower, CLIPImageTower):
            tower = CLIPImageTower(checkpoint=tower)
        # the global view and the object view's grid need other grids
        tower.resize_pos_embed = True
        self.tower = tower.eval().requires_grad_(False)
        self.size = tower.input_resolution
        patch = tower.patch_size
        if object_padding is None:
            object_padding = (patch - 1) // 2
        self.settings = dict(
            block_size=block_size or self.size,
            max_stride=max_stride,
            rescale=rescale,
            faithful_block0_box=faithful_block0_box,
            expand_ratio=expand_ratio,
            min_size=min_size,
            object_stride=object_stride or max(patch // 2, 1),
            object_padding=object_padding,
            mask_bias=mask_bias,
            size=self.size)
        self.grid = patch_grid(self.size, patch,
                               self.settings['object_stride'],
                               self.settings['object_padding'])
        self.batch_size = batch_size

    def train(self, mode: bool = True) -> 'OAKE':
        # a frozen teacher: the tower stays in eval mode
        super().train(mode)
        self.tower.eval()
        return self

    @property
    def device(self) -> torch.device:
        return self.tower.proj.device

    def describe(self) -> str:
        """The settings that determine the embeddings, as JSON."""
        return json.dumps(
            dict(self.settings, arch=self.tower.arch), sort_keys=True)

    @torch.no_grad()
    def embed_global(self, image: Tensor) -> Tensor:
        """The global embedding (1, D) of an RGB uint8 image (3, H, W)."""
        view = global_view(image.to(self.device))[None]
        return F.normalize(self.tower(view).float(), dim=-1)

    @torch.no_grad()
    def embed_blocks(self, image: Tensor) -> Dict[str, Tensor]:
        """Block embeddings (K, D) and boxes (K, 4) of an image."""
        s = self.settings
        blocks, boxes = block_view(image, s['block_size'], s['max_stride'],
                                   s['rescale'], s['faithful_block0_box'],
                                   self.size)
        embeddings = [
            self.tower(clip_normalize(chunk.to(self.device))).float()
            for chunk in blocks.split(self.batch_size)
        ]
        return dict(
            boxes=boxes,
            embeddings=F.normalize(torch.cat(embeddings), dim=-1).cpu())

    @torch.no_grad()
    def embed_objects(self, image: Tensor,
                      proposals: Tensor) -> Dict[str, Tensor]:
        """[OBJ] embeddings of the proposals (M, D) that are kept
        (:func:`~.views.valid_proposals`), their boxes (M, 4) and which
        proposals were kept (N,)."""
        s = self.settings
        boxes = torch.as_tensor(proposals, dtype=torch.float32)[:, :4]
        keep = valid_proposals(boxes, s['min_size'])
        boxes = boxes[keep]
        embeddings = []
        # an empty tensor splits into one empty chunk: no forward for it
        for start in range(0, len(boxes), self.batch_size):
            chunk = boxes[start:start + self.batch_size]
            crops, masks = object_view(image, chunk, self.grid,
                                       s['expand_ratio'], self.size)
            bias = masks.flatten(1).float() * s['mask_bias']
            token = self.tower.forward_with_token(
                clip_normalize(crops.to(self.device)), bias.to(self.device),
                s['object_stride'], s['object_padding'])[1]
            embeddings.append(token.float())
        dim = self.tower.output_dim
        embeddings = torch.cat(embeddings) if embeddings else torch.zeros(
            0, dim)
        return dict(
            boxes=boxes,
            embeddings=F.normalize(embeddings, dim=-1).cpu(),
            keep=keep)
