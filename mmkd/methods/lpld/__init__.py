# Copyright (c) mmkd contributors. All rights reserved.
"""LPLD: source-free domain-adaptive detection with low-confidence pseudo
label distillation (Yoon et al., ECCV 2024)."""
from .lpld_detector import LPLDDetector
from .lpld_loss import LPLDLoss, lpld_kl
from .mining import feature_weight, mine_low_confidence, refine_proposals
from .transforms import LPLDStrongAugment

__all__ = [
    'LPLDDetector', 'LPLDLoss', 'LPLDStrongAugment', 'feature_weight',
    'lpld_kl', 'mine_low_confidence', 'refine_proposals'
]
