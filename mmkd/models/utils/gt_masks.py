# Copyright (c) mmkd contributors. All rights reserved.
"""Weight maps from ground truth, for losses that distil where objects are.

A mask builder is given in a distill loss's config as ``mask=dict(type=...)``;
the :class:`~mmkd.models.distillers.Distiller` calls it with the batch's data
samples and the spatial shape of the teacher's tap, and passes the map to the
loss as ``weight`` (shape ``(B, 1, H, W)``, broadcast over channels).
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from mmkd.registry import TASK_UTILS
from .bev_keypoints import in_range
from .gaussian_mask import gaussian_box_mask


def _field(data_samples: Optional[list], path: str, builder: str) -> list:
    """``sample.<path>`` of every sample, or an error naming the sample
    (its file) and the missing field."""
    if data_samples is None:
        raise ValueError(f'{builder} builds its mask from the batch '
                         f'data_samples ({path}); none were given')
    values = []
    for i, sample in enumerate(data_samples):
        value = sample
        for part in path.split('.'):
            if not hasattr(value, part):
                meta = getattr(sample, 'metainfo', {})
                where = meta.get('img_path') or meta.get('lidar_path') or \
                    f'sample {i} of the batch'
                raise KeyError(
                    f'{builder} needs {path} in every data sample, but '
                    f'{where!r} has no {part!r}: load it in the pipeline '
                    '(LoadAnnotations / LoadAnnotations3D) and pack it')
            value = getattr(value, part)
        values.append(value)
    return values


def _check_range(point_cloud_range: Sequence[float], builder: str) -> list:
    pcr = [float(v) for v in point_cloud_range]
    if len(pcr) != 6 or pcr[3] <= pcr[0] or pcr[4] <= pcr[1]:
        raise ValueError(f'{builder}: point_cloud_range must be [x0, y0, z0, '
                         f'x1, y1, z1] with x1 > x0 and y1 > y0, got '
                         f'{list(point_cloud_range)}')
    return pcr


def bev_boxes(data_samples: Optional[list], point_cloud_range: Sequence[float],
              device: torch.device, builder: str) -> List[Tensor]:
    """Each sample's ``gt_instances_3d.bboxes_3d`` as an (N_i, >=7) float
    tensor on ``device`` (x, y, z, dx, dy, dz, yaw, ...)."""
    boxes = _field(data_samples, 'gt_instances_3d.bboxes_3d', builder)
    return [
        getattr(b, 'tensor', b).to(device=device, dtype=torch.float32)
        for b in boxes
    ]


def rotated_box_footprint(boxes: List[Tensor],
                          shape: Tuple[int, int],
                          point_cloud_range: Sequence[float],
                          enlarge: float = 0.0) -> Tensor:
    """1 at the BEV cells whose centre lies in a rotated box, else 0.

    A cell centre ``p`` is in a box of centre ``c``, size ``dx, dy`` and yaw
    ``a`` (mmdet3d's LiDAR boxes: the box's x axis is the world's x axis
    turned by ``a`` about z) when ``R(-a) (p - c)`` lies within
    ``+-(dx / 2 + enlarge), +-(dy / 2 + enlarge)``.

    Args:
        boxes (list[Tensor]): Per sample (N_i, >=7) boxes.
        shape (tuple[int]): (Y, X) of the map; rows along y.
        point_cloud_range (Sequence[float]): The range the map covers.
        enlarge (float): Metres added to each half-extent. Defaults to 0.

    Returns:
        Tensor: (B, Y, X) map of 0 and 1.
    """
    H, W = shape
    x0, y0, _, x1, y1, _ = point_cloud_range
    device = boxes[0].device if boxes else torch.device('cpu')
    xs = x0 + (torch.arange(W, device=device) + 0.5) * (x1 - x0) / W
    ys = y0 + (torch.arange(H, device=device) + 0.5) * (y1 - y0) / H
    py, px = torch.meshgrid(ys, xs, indexing='ij')
    masks = []
    for b in boxes:
        if b.shape[0] == 0:
            masks.append(torch.zeros(H, W, device=device))
            continue
        cos, sin = torch.cos(b[:, 6]), torch.sin(b[:, 6])
        ox = px[None] - b[:, 0, None, None]
        oy = py[None] - b[:, 1, None, None]
        # rotate the offsets by -yaw into the boxes' frames
        lx = cos[:, None, None] * ox + sin[:, None, None] * oy
        ly = -sin[:, None, None] * ox + cos[:, None, None] * oy
        inside = (lx.abs() <= b[:, 3, None, None] / 2 + enlarge) & (
            ly.abs() <= b[:, 4, None, None] / 2 + enlarge)
        masks.append(inside.any(0).float())
    return torch.stack(masks) if masks else torch.zeros(0, H, W)


class _MaskBuilder:
    """Called as ``builder(data_samples, shape, device)`` -> (B, 1, H, W)."""

    def __call__(self, data_samples: Optional[list], shape: Tuple[int, int],
                 device: torch.device) -> Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ', '.join(f'{k}={v!r}' for k, v in vars(self).items())
        return f'{type(self).__name__}({args})'


@TASK_UTILS.register_module()
class BEVBoxFootprintMask(_MaskBuilder):
    """Rotated footprints of the 3D ground-truth boxes on a BEV map.

    Args:
        point_cloud_range (Sequence[float]): The range the tapped map covers
            (x0, y0, z0, x1, y1, z1).
        enlarge (float): Metres added to each half-extent. Defaults to 0.

    Example:
        >>> import torch
        >>> from mmengine.structures import InstanceData
        >>> from mmdet3d.structures import Det3DDataSample
        >>> s = Det3DDataSample()
        >>> s.gt_instances_3d = InstanceData(
        ...     bboxes_3d=torch.tensor([[2., 2., 0., 2., 2., 1., 0.]]))
        >>> m = BEVBoxFootprintMask([0, 0, -1, 4, 4, 1])([s], (4, 4), 'cpu')
        >>> m[0, 0].int().tolist()
        [[0, 0, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]]
    """

    def __init__(self, point_cloud_range: Sequence[float],
                 enlarge: float = 0.0) -> None:
        self.point_cloud_range = _check_range(point_cloud_range,
                                              type(self).__name__)
        if enlarge < 0:
            raise ValueError(f'{type(self).__name__}: enlarge must be >= 0, '
                             f'got {enlarge}')
        self.enlarge = float(enlarge)

    def __call__(self, data_samples, shape, device) -> Tensor:
        boxes = bev_boxes(data_samples, self.point_cloud_range, device,
                          type(self).__name__)
        return rotated_box_footprint(boxes, shape, self.point_cloud_range,
                                     self.enlarge)[:, None]


@TASK_UTILS.register_module()
class BEVGaussianCenterMask(_MaskBuilder):
    """CenterPoint-style Gaussians at the 3D ground-truth box centres
    (class-agnostic, max over boxes; :func:`gaussian_box_mask`).

    Args:
        point_cloud_range (Sequence[float]): The range the tapped map covers.
        min_overlap (float): Defaults to 0.7.
        min_radius (int): Defaults to 0 (UniDistill; CenterPoint uses 2).
    """

    def __init__(self,
                 point_cloud_range: Sequence[float],
                 min_overlap: float = 0.7,
                 min_radius: int = 0) -> None:
        self.point_cloud_range = _check_range(point_cloud_range,
                                              type(self).__name__)
        self.min_overlap = min_overlap
        self.min_radius = min_radius

    def __call__(self, data_samples, shape, device) -> Tensor:
        boxes = bev_boxes(data_samples, self.point_cloud_range, device,
                          type(self).__name__)
        # a box whose centre is off the grid has no centre cell
        boxes = [b[in_range(b[:, :2], self.point_cloud_range)] for b in boxes]
        return gaussian_box_mask(boxes, tuple(shape), self.point_cloud_range,
                                 self.min_overlap, self.min_radius)[:, None]


@TASK_UTILS.register_module()
class ImageBoxMask(_MaskBuilder):
    """1 inside the 2D ground-truth boxes (``gt_instances.bboxes``, pixels
    of the padded batch input), mapped onto an (H, W) feature map.

    Args:
        enlarge (float): Pixels added on every side. Defaults to 0.
    """

    def __init__(self, enlarge: float = 0.0) -> None:
        self.enlarge = float(enlarge)

    def __call__(self, data_samples, shape, device) -> Tensor:
        boxes = _field(data_samples, 'gt_instances.bboxes',
                       type(self).__name__)
        H, W = shape
        masks = []
        for sample, b in zip(data_samples, boxes):
            b = getattr(b, 'tensor', b).to(device=device, dtype=torch.float32)
            in_h, in_w = sample.metainfo.get('batch_input_shape',
                                             sample.metainfo['img_shape'])
            ys = (torch.arange(H, device=device) + 0.5) * in_h / H
            xs = (torch.arange(W, device=device) + 0.5) * in_w / W
            e = self.enlarge
            inside = (xs[None, None] >= b[:, 0, None, None] - e) & (
                xs[None, None] <= b[:, 2, None, None] + e) & (
                    ys[None, :, None] >= b[:, 1, None, None] - e) & (
                        ys[None, :, None] <= b[:, 3, None, None] + e)
            masks.append(inside.any(0).float() if len(b) else torch.zeros(
                H, W, device=device))
        return torch.stack(masks)[:, None]


@TASK_UTILS.register_module()
class SegClassMask(_MaskBuilder):
    """1 where the ground-truth segmentation holds one of ``classes``
    (nearest-neighbour resized to the feature map), else 0.

    Args:
        classes (Sequence[int], optional): Class indices; None takes every
            labelled (not ignored) pixel. Defaults to None.
        ignore_index (int): Label of unlabelled pixels. Defaults to 255.
    """

    def __init__(self,
                 classes: Optional[Sequence[int]] = None,
                 ignore_index: int = 255) -> None:
        self.classes = None if classes is None else [int(c) for c in classes]
        self.ignore_index = ignore_index

    def __call__(self, data_samples, shape, device) -> Tensor:
        maps = _field(data_samples, 'gt_sem_seg.data', type(self).__name__)
        labels = torch.stack([m.to(device) for m in maps]).float()
        labels = F.interpolate(labels, size=tuple(shape), mode='nearest')
        if self.classes is None:
            return (labels != self.ignore_index).float()
        classes = torch.tensor(self.classes, device=device, dtype=labels.dtype)
        return torch.isin(labels, classes).float()
