# Copyright (c) mmkd contributors. All rights reserved.
"""What the build-time checks read from BEV detectors: grids and channels."""
from typing import Optional

import torch.nn as nn


def bev_grid(model: nn.Module) -> Optional[dict]:
    """The BEV grid of a detector's head (CenterHead-style ``train_cfg``).

    Returns:
        dict | None: ``point_cloud_range`` (x0, y0, x1, y1), ``voxel_size``
        (x, y) and ``out_size_factor``; None when the model declares none.
    """
    for name in ('bbox_head', 'pts_bbox_head'):
        head = getattr(model, name, None)
        cfg = getattr(head, 'train_cfg', None) or {}
        if 'point_cloud_range' in cfg and 'voxel_size' in cfg:
            pcr = [float(v) for v in cfg['point_cloud_range']]
            return dict(
                point_cloud_range=(pcr[0], pcr[1], pcr[3], pcr[4]),
                voxel_size=tuple(float(v) for v in cfg['voxel_size'][:2]),
                out_size_factor=int(cfg.get('out_size_factor', 1)))
    return None


def out_channels(module: nn.Module) -> Optional[int]:
    """Channels of what a BEV module returns, where it says; else None.

    Knows mmkd's ``LSSViewTransform``/``ConvFuser`` (``out_channels``),
    ``SECONDFPN`` (its concatenated ``out_channels``), ``PointPillarsScatter``
    (``in_channels``) and connectors (their last conv or linear layer).
    """
    name = type(module).__name__
    if name == 'PointPillarsScatter':
        return int(module.in_channels)
    channels = getattr(module, 'out_channels', None)
    if isinstance(channels, int):
        return channels
    if isinstance(channels, (list, tuple)) and name == 'SECONDFPN':
        return int(sum(channels))
    if 'Connector' in name or isinstance(module, nn.ModuleList):
        last = [
            m for m in module.modules()
            if isinstance(m, (nn.Conv2d, nn.Linear))
        ]
        if last:
            m = last[-1]
            return int(getattr(m, 'out_channels', None)
                       or getattr(m, 'out_features'))
    return None


def num_classes(model: nn.Module) -> Optional[int]:
    """Total heatmap classes of a CenterHead-style head, or None."""
    for name in ('bbox_head', 'pts_bbox_head'):
        head = getattr(model, name, None)
        classes = getattr(head, 'num_classes', None)
        if isinstance(classes, (list, tuple)):
            return int(sum(classes))
        if isinstance(classes, int):
            return classes
    return None
