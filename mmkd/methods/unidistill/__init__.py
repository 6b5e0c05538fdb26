# Copyright (c) mmkd contributors. All rights reserved.
"""UniDistill: cross-modality knowledge distillation for BEV 3D detection
(Zhou et al., CVPR 2023)."""
from .gaussian_mask import gaussian_box_mask, gaussian_radius
from .keypoints import box_keypoints, gt_boxes, sample_keypoints
from .losses import (REG_KEYS, BEVDistillLoss, BEVKeypointFeatureLoss,
                     BEVKeypointRelationLoss, BEVResponseLoss, resample_bev)

__all__ = [
    'BEVDistillLoss', 'BEVKeypointFeatureLoss', 'BEVKeypointRelationLoss',
    'BEVResponseLoss', 'REG_KEYS', 'box_keypoints', 'gaussian_box_mask',
    'gaussian_radius', 'gt_boxes', 'resample_bev', 'sample_keypoints'
]
