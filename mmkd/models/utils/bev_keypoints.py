# Copyright (c) mmkd contributors. All rights reserved.
"""The nine foreground key points of a box and their BEV features."""
from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


def box_keypoints(boxes: Tensor) -> Tensor:
    """Nine BEV key points per box: 4 corners, the centre, 4 edge midpoints.

    In the box frame (x along the length, the heading at yaw 0) the order
    is UniDistill's: corners (-l/2, -w/2), (-l/2, w/2), (l/2, w/2),
    (l/2, -w/2); the centre; the midpoints of the edges between corners
    0-1 (rear), 1-2, 2-3 (front) and 0-3. The points are rotated
    counter-clockwise by yaw and moved to the box centre.

    Args:
        boxes (Tensor): (N, >=7) LiDAR boxes ``x, y, z, l, w, h, yaw, ...``
            as mmdet3d's ``LiDARInstance3DBoxes.tensor``.

    Returns:
        Tensor: (N, 9, 2) x, y in metres.
    """
    sx = boxes.new_tensor([-0.5, -0.5, 0.5, 0.5, 0., -0.5, 0., 0.5, 0.])
    sy = boxes.new_tensor([-0.5, 0.5, 0.5, -0.5, 0., 0., 0.5, 0., -0.5])
    local_x = boxes[:, 3:4] * sx
    local_y = boxes[:, 4:5] * sy
    cos, sin = torch.cos(boxes[:, 6:7]), torch.sin(boxes[:, 6:7])
    x = local_x * cos - local_y * sin + boxes[:, 0:1]
    y = local_x * sin + local_y * cos + boxes[:, 1:2]
    return torch.stack([x, y], dim=-1)


def in_range(points: Tensor, point_cloud_range: Sequence[float]) -> Tensor:
    """Whether BEV points (..., 2) lie inside the x/y extent of a range."""
    x0, y0, _, x1, y1, _ = point_cloud_range
    return (points[..., 0] >= x0) & (points[..., 0] < x1) & (
        points[..., 1] >= y0) & (points[..., 1] < y1)


def gt_boxes(data_samples: list, point_cloud_range: Sequence[float],
             device: torch.device) -> List[Tensor]:
    """Ground-truth boxes of each sample whose centre lies in the grid.

    Boxes outside the BEV grid are dropped: they have no cell to distil.

    Returns:
        list[Tensor]: per sample an (N_i, >=7) tensor.
    """
    if data_samples is None:
        raise ValueError('UniDistill losses need the batch data_samples (the '
                         'ground-truth boxes place the key points and masks)')
    boxes = []
    for sample in data_samples:
        b = sample.gt_instances_3d.bboxes_3d
        b = getattr(b, 'tensor', b).to(device=device, dtype=torch.float32)
        boxes.append(b[in_range(b[:, :2], point_cloud_range)])
    return boxes


def sample_keypoints(feats: Tensor,
                     keypoints: List[Tensor],
                     point_cloud_range: Sequence[float],
                     faithful_xy_swap: bool = False) -> Tuple[Tensor, Tensor]:
    """Bilinearly sample a BEV map at key points given in metres.

    The map is (B, C, Y, X) over the x/y extent of ``point_cloud_range``
    (rows along y, as mmdet3d's BEV maps), so a point's grid coordinate is
    ``2 * (x - x0) / (x1 - x0) - 1``: the same as UniDistill's cell
    coordinate ``(x - x0) / (voxel * stride)`` normalised by ``2c / X - 1``
    with ``align_corners=False``, for any resolution of the map. Points
    beyond the border read zeros.

    Args:
        feats (Tensor): (B, C, Y, X) map.
        keypoints (list[Tensor]): Per sample (N_i, K, 2) points in metres.
        point_cloud_range (Sequence[float]): The range the map covers.
        faithful_xy_swap (bool): Swap x and y before sampling as the
            official code does, which reads each point's mirror image
            across the map's diagonal. Defaults to False.

    Returns:
        tuple[Tensor, Tensor]: (sum N_i, K, C) sampled features and the
        (B, N_max) mask of real (not padding) boxes.
    """
    x0, y0, _, x1, y1, _ = point_cloud_range
    B = feats.shape[0]
    if len(keypoints) != B:
        raise ValueError(f'{len(keypoints)} samples of boxes for a batch of '
                         f'{B} BEV maps')
    n_max = max([k.shape[0] for k in keypoints] + [1])
    K = keypoints[0].shape[1] if keypoints else 9
    grid = feats.new_zeros(B, n_max, K, 2)
    valid = torch.zeros(B, n_max, dtype=torch.bool, device=feats.device)
    for i, k in enumerate(keypoints):
        grid[i, :k.shape[0]] = k
        valid[i, :k.shape[0]] = True
    scale = grid.new_tensor([x1 - x0, y1 - y0])
    grid = 2 * (grid - grid.new_tensor([x0, y0])) / scale - 1
    if faithful_xy_swap:
        grid = grid.flip(-1)
    # (B, C, N_max, K) -> (B, N_max, K, C)
    sampled = F.grid_sample(feats, grid, align_corners=False)
    return sampled.permute(0, 2, 3, 1)[valid], valid
