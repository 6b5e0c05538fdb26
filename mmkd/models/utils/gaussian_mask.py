# Copyright (c) mmkd contributors. All rights reserved.
"""Class-agnostic Gaussian box masks on a BEV grid, without per-box loops."""
from typing import List, Sequence, Tuple

import torch
from torch import Tensor


def gaussian_radius(length: Tensor, width: Tensor,
                    min_overlap: float = 0.7) -> Tensor:
    """CenterNet's Gaussian radius (mmdet3d's ``gaussian_radius``) of boxes
    of ``length`` x ``width`` cells, element-wise."""
    b1 = length + width
    c1 = width * length * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + torch.sqrt(b1**2 - 4 * c1)) / 2
    b2 = 2 * (length + width)
    c2 = (1 - min_overlap) * width * length
    r2 = (b2 + torch.sqrt(b2**2 - 16 * c2)) / 2
    a3 = 4 * min_overlap
    b3 = -2 * min_overlap * (length + width)
    c3 = (min_overlap - 1) * width * length
    r3 = (b3 + torch.sqrt(b3**2 - 4 * a3 * c3)) / 2
    return torch.minimum(torch.minimum(r1, r2), r3)


def gaussian_box_mask(boxes: List[Tensor],
                      shape: Tuple[int, int],
                      point_cloud_range: Sequence[float],
                      min_overlap: float = 0.7,
                      min_radius: int = 0) -> Tensor:
    """Max over boxes of a Gaussian at each box centre, one map per sample.

    As CenterPoint's heatmap targets (and UniDistill's response mask) but
    for all classes at once: the centre cell is ``int((x - x0) / cell)``,
    the radius ``max(min_radius, int(gaussian_radius(l, w)))`` with l, w in
    cells, the Gaussian ``exp(-(dx^2 + dy^2) / (2 sigma^2))`` with
    ``sigma = (2r + 1) / 6`` on the (2r + 1)^2 window around the centre.

    Args:
        boxes (list[Tensor]): Per sample (N_i, >=7) boxes in the grid.
        shape (tuple[int]): (Y, X) of the map.
        point_cloud_range (Sequence[float]): The range the map covers.
        min_overlap (float): Defaults to 0.7.
        min_radius (int): Defaults to 0 (UniDistill; CenterPoint uses 2).

    Returns:
        Tensor: (B, Y, X) mask in [0, 1].
    """
    H, W = shape
    x0, y0, _, x1, y1, _ = point_cloud_range
    cell_x, cell_y = (x1 - x0) / W, (y1 - y0) / H
    B = len(boxes)
    device = boxes[0].device if boxes else torch.device('cpu')
    mask = torch.zeros(B * H * W, device=device)
    all_boxes = torch.cat([b[:, :7] for b in boxes]) if boxes else \
        torch.zeros(0, 7, device=device)
    if all_boxes.shape[0] == 0:
        return mask.view(B, H, W)
    batch = torch.cat([
        torch.full((b.shape[0], ), i, device=device)
        for i, b in enumerate(boxes)
    ])
    cx = ((all_boxes[:, 0] - x0) / cell_x).long()
    cy = ((all_boxes[:, 1] - y0) / cell_y).long()
    radius = gaussian_radius(all_boxes[:, 3] / cell_x,
                             all_boxes[:, 4] / cell_y, min_overlap)
    radius = radius.long().clamp(min=min_radius)
    r_max = int(radius.max())
    offsets = torch.arange(-r_max, r_max + 1, device=device)
    dy, dx = torch.meshgrid(offsets, offsets, indexing='ij')
    dx, dy = dx.reshape(1, -1), dy.reshape(1, -1)
    sigma = (2 * radius[:, None] + 1).float() / 6
    value = torch.exp(-(dx**2 + dy**2).float() / (2 * sigma**2))
    xs, ys = cx[:, None] + dx, cy[:, None] + dy
    keep = (dx.abs() <= radius[:, None]) & (dy.abs() <= radius[:, None]) & (
        xs >= 0) & (xs < W) & (ys >= 0) & (ys < H)
    index = (batch[:, None] * H + ys) * W + xs
    mask.scatter_reduce_(0, index[keep], value[keep], reduce='amax')
    return mask.view(B, H, W)
