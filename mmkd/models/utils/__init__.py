# Copyright (c) mmkd contributors. All rights reserved.
"""Helpers shared by losses of several methods: BEV grids, box key points
and ground-truth masks (pure torch; no method imports another)."""
from .bev_grids import (bev_grid, format_grid, num_classes, out_channels,
                        range_xy, resample_bev, same_grid, values_close)
from .bev_keypoints import (box_keypoints, gt_boxes, in_range,
                            sample_keypoints)
from .gaussian_mask import gaussian_box_mask, gaussian_radius
from .gt_masks import (BEVBoxFootprintMask, BEVGaussianCenterMask,
                       ImageBoxMask, SegClassMask, rotated_box_footprint)

__all__ = [
    'BEVBoxFootprintMask', 'BEVGaussianCenterMask', 'ImageBoxMask',
    'SegClassMask', 'bev_grid', 'box_keypoints', 'format_grid',
    'gaussian_box_mask', 'gaussian_radius', 'gt_boxes', 'in_range',
    'num_classes', 'out_channels', 'range_xy', 'resample_bev',
    'rotated_box_footprint', 'same_grid', 'sample_keypoints', 'values_close'
]
