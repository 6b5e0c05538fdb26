# Copyright (c) mmkd contributors. All rights reserved.
from typing import List, Sequence

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor

from mmkd.registry import MODELS


@MODELS.register_module()
class ConvFuser(BaseModule):
    """Fuse BEV maps of one grid: concatenate channels, 3x3 conv, BN, ReLU.

    With ``channel_attention`` the concatenated map is first reweighted by
    ``sigmoid(conv1x1(avgpool(x)))`` per channel, as UniDistill's
    ``FusionEncoder``.

    Args:
        in_channels (Sequence[int]): Channels of each input map, in the
            order the detector passes them (camera, then LiDAR).
        out_channels (int): Channels of the fused map.
        channel_attention (bool): Defaults to False.
        init_cfg (dict, optional): Initialization config. Defaults to None.
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 out_channels: int,
                 channel_attention: bool = False,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = list(in_channels)
        self.out_channels = out_channels
        self.attention = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(sum(self.in_channels), sum(self.in_channels), 1),
            nn.Sigmoid()) if channel_attention else None
        self.conv = ConvModule(
            sum(self.in_channels),
            out_channels,
            3,
            padding=1,
            norm_cfg=dict(type='BN2d'))

    def forward(self, inputs: List[Tensor]) -> Tensor:
        channels = [x.shape[1] for x in inputs]
        shapes = {tuple(x.shape[2:]) for x in inputs}
        if channels != self.in_channels or len(shapes) != 1:
            raise ValueError(
                f'ConvFuser(in_channels={self.in_channels}) got BEV maps of '
                f'shapes {[tuple(x.shape) for x in inputs]}: the maps must '
                'share one grid and have the declared channels')
        x = torch.cat(inputs, dim=1)
        if self.attention is not None:
            x = x * self.attention(x)
        return self.conv(x)
