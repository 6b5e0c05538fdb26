# Copyright (c) mmkd contributors. All rights reserved.
"""UniDistill: cross-modality knowledge distillation for BEV 3D detection
(Zhou et al., CVPR 2023). Its BEV helpers (box key points, Gaussian mask,
grids) are shared engine code in :mod:`mmkd.models.utils`."""
from .losses import (REG_KEYS, BEVDistillLoss, BEVKeypointFeatureLoss,
                     BEVKeypointRelationLoss, BEVResponseLoss)

__all__ = [
    'BEVDistillLoss', 'BEVKeypointFeatureLoss', 'BEVKeypointRelationLoss',
    'BEVResponseLoss', 'REG_KEYS'
]
