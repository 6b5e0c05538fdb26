# Copyright (c) mmkd contributors. All rights reserved.
"""Trainable adapters that map student features to the teacher's shape."""
from typing import Optional

import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor

from mmkd.registry import MODELS


@MODELS.register_module()
class ConvConnector(BaseModule):
    """A conv (+ norm, + activation) mapping ``[N, C_s, H, W]`` features to
    ``[N, C_t, H, W]``.

    It is trained with the student and saved in checkpoints with it.

    Args:
        in_channels (int): Channels of the student feature ``C_s``.
        out_channels (int): Channels of the teacher feature ``C_t``.
        kernel_size (int): Kernel size. Defaults to 1.
        norm_cfg (dict, optional): Norm layer, e.g. ``dict(type='BN')``.
            Defaults to ``dict(type='BN')``.
        act_cfg (dict, optional): Activation after the norm. Defaults to
            None: a linear map, as in FitNets-style hint layers.
        init_cfg (dict or list[dict], optional): Initialization config.
            Defaults to None.

    Examples:
        >>> import torch
        >>> connector = ConvConnector(16, 64).eval()
        >>> connector(torch.rand(2, 16, 8, 8)).shape
        torch.Size([2, 64, 8, 8])
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int = 1,
                 norm_cfg: Optional[dict] = dict(type='BN'),
                 act_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.conv = ConvModule(
            in_channels,
            out_channels,
            kernel_size,
            padding=kernel_size // 2,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg)

    def forward(self, x: Tensor) -> Tensor:
        """Map ``[N, C_s, H, W]`` to ``[N, C_t, H, W]``."""
        return self.conv(x)


@MODELS.register_module()
class LinearConnector(BaseModule):
    """A linear layer mapping ``[..., C_s]`` to ``[..., C_t]`` (tokens,
    pooled embeddings).

    Args:
        in_features (int): Student feature size ``C_s``.
        out_features (int): Teacher feature size ``C_t``.
        init_cfg (dict or list[dict], optional): Initialization config.
            Defaults to None.

    Examples:
        >>> import torch
        >>> LinearConnector(8, 32)(torch.rand(2, 5, 8)).shape
        torch.Size([2, 5, 32])
    """

    def __init__(self,
                 in_features: int,
                 out_features: int,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.fc = nn.Linear(in_features, out_features)

    def forward(self, x: Tensor) -> Tensor:
        """Map ``[..., C_s]`` to ``[..., C_t]``."""
        return self.fc(x)
