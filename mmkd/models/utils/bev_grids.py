# Copyright (c) mmkd contributors. All rights reserved.
"""BEV grids: what build-time checks read from BEV detectors (grids and
channels), grid comparison and resampling a map onto another grid."""
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


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


def range_xy(point_cloud_range: Sequence[float]) -> tuple:
    """``(x0, y0, x1, y1)`` of a 6-value ``point_cloud_range``."""
    x0, y0, _, x1, y1, _ = point_cloud_range
    return x0, y0, x1, y1


def values_close(a, b) -> bool:
    """Element-wise equal to 1e-4 (grid values written in configs)."""
    return all(abs(float(x) - float(y)) < 1e-4 for x, y in zip(a, b))


def same_grid(a: dict, b: dict) -> bool:
    """Whether two :func:`bev_grid` dicts cover the same range with the same
    output cells (voxel size x stride), to 1e-4."""
    cell_a = [v * a['out_size_factor'] for v in a['voxel_size']]
    cell_b = [v * b['out_size_factor'] for v in b['voxel_size']]
    return values_close(a['point_cloud_range'], b['point_cloud_range']) and values_close(
        cell_a, cell_b)


def format_grid(grid: dict) -> str:
    """A :func:`bev_grid` dict as a message fragment."""
    return (f"range {list(grid['point_cloud_range'])}, voxel "
            f"{list(grid['voxel_size'])}, stride {grid['out_size_factor']}")


def resample_bev(feats: Tensor, src_range: Sequence[float],
                 dst_range: Sequence[float], dst_shape: Sequence[int]
                 ) -> Tensor:
    """Bilinearly resample a BEV map onto another grid's cell centres."""
    H, W = dst_shape
    x0, y0, _, x1, y1, _ = dst_range
    xs = x0 + (torch.arange(W, device=feats.device) + 0.5) * (x1 - x0) / W
    ys = y0 + (torch.arange(H, device=feats.device) + 0.5) * (y1 - y0) / H
    sx0, sy0, _, sx1, sy1, _ = src_range
    gx = 2 * (xs - sx0) / (sx1 - sx0) - 1
    gy = 2 * (ys - sy0) / (sy1 - sy0) - 1
    grid = torch.stack(torch.meshgrid(gy, gx, indexing='ij')[::-1], dim=-1)
    grid = grid.expand(feats.shape[0], H, W, 2).to(feats.dtype)
    return F.grid_sample(feats, grid, align_corners=False)
