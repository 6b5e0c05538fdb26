# Copyright (c) mmkd contributors. All rights reserved.
"""Boundary IoU (Cheng et al., CVPR 2021) for semantic segmentation, next to
mmseg's IoU metrics."""
import math
from typing import Dict, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmseg.evaluation.metrics import IoUMetric
from torch import Tensor

from mmkd.registry import METRICS


def inner_boundary(mask: Tensor, width: int,
                   unknown: Tensor = None) -> Tensor:
    """Pixels of ``mask`` within ``width`` pixels (chessboard distance) of
    its contour: ``mask`` minus its erosion by a (2w+1) square.

    The image border is not a contour; pixels in ``unknown`` (e.g. ignored
    ground truth) count as inside, so they do not make a contour either.

    Args:
        mask (Tensor): Bool map of shape (H, W).
        width (int): Band width d in pixels.
        unknown (Tensor, optional): Bool map of shape (H, W).

    Returns:
        Tensor: Bool map of shape (H, W).
    """
    filled = mask if unknown is None else mask | unknown
    # max_pool2d pads with -inf: the border does not erode
    eroded = -F.max_pool2d(
        -filled[None, None].float(), 2 * width + 1, 1, width)[0, 0]
    return mask & (eroded < 0.5)


@METRICS.register_module()
class BoundaryIoUMetric(IoUMetric):
    """mmseg's :class:`IoUMetric` plus the mean Boundary IoU, ``mBIoU``.

    For each class c, with ground-truth mask G and predicted mask P, the
    boundary IoU is ``|G_d & P_d| / |G_d | P_d|`` where ``X_d`` are the
    pixels of X within d pixels of X's contour (:func:`inner_boundary`),
    accumulated over the dataset like IoU and averaged over the classes
    that occur (NaN-mean). Ignored pixels count in neither set and make no
    contour in either map, so predictions inside ignored regions do not
    change the score (as for IoU).

    Args:
        boundary_width (int | float): d in pixels, or, if a float below 1,
            that fraction of each image's diagonal (rounded, at least 1
            pixel). Defaults to 0.02 (the Boundary IoU paper's setting).
        **kwargs: Arguments of :class:`mmseg.evaluation.IoUMetric`
            (``iou_metrics``, ``ignore_index``, ...).
    """

    def __init__(self,
                 boundary_width: Union[int, float] = 0.02,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if boundary_width <= 0 or (isinstance(boundary_width, float)
                                   and boundary_width >= 1):
            raise ValueError('boundary_width must be a positive number of '
                             'pixels (int) or a fraction of the diagonal in '
                             f'(0, 1), got {boundary_width!r}')
        self.boundary_width = boundary_width

    def band_width(self, height: int, width: int) -> int:
        """d in pixels for an image of this size."""
        if isinstance(self.boundary_width, float):
            return max(1, round(self.boundary_width *
                                math.hypot(height, width)))
        return int(self.boundary_width)

    def boundary_intersect_and_union(self, pred: Tensor, label: Tensor,
                                     num_classes: int
                                     ) -> Tuple[Tensor, Tensor]:
        """Per-class boundary intersection and union areas (C,)."""
        valid = label != self.ignore_index
        d = self.band_width(*label.shape[-2:])
        inter = torch.zeros(num_classes, dtype=torch.float64)
        union = torch.zeros(num_classes, dtype=torch.float64)
        present = torch.cat([label[valid].unique(), pred[valid].unique()])
        for c in present.unique().tolist():
            if not 0 <= c < num_classes:
                continue
            gt_band = inner_boundary(label == c, d, ~valid) & valid
            pred_band = inner_boundary(pred == c, d, ~valid) & valid
            inter[c] = (gt_band & pred_band).sum()
            union[c] = (gt_band | pred_band).sum()
        return inter, union

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Store IoUMetric's areas and the boundary areas of each sample."""
        start = len(self.results)
        super().process(data_batch, data_samples)
        if self.format_only:
            return
        num_classes = len(self.dataset_meta['classes'])
        for i, data_sample in enumerate(data_samples):
            pred = data_sample['pred_sem_seg']['data'].squeeze()
            label = data_sample['gt_sem_seg']['data'].squeeze().to(pred)
            self.results[start + i] = tuple(self.results[start + i]) + (
                self.boundary_intersect_and_union(pred, label, num_classes))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """IoUMetric's metrics plus ``mBIoU`` (percent)."""
        if self.format_only:
            return super().compute_metrics(results)
        metrics = super().compute_metrics([r[:4] for r in results])
        inter = sum(r[4] for r in results)
        union = sum(r[5] for r in results)
        with np.errstate(invalid='ignore', divide='ignore'):
            per_class = (inter / union).numpy()
        metrics['mBIoU'] = float(np.round(np.nanmean(per_class) * 100, 2))
        rows = ', '.join(
            f'{name}: {100 * v:.2f}'
            for name, v in zip(self.dataset_meta['classes'], per_class))
        print_log(f'boundary IoU per class: {rows}', logger='current')
        return metrics
