# Copyright (c) mmkd contributors. All rights reserved.
from .base_distill_loss import BaseDistillLoss
from .cosine import CosineSimilarityLoss
from .cwd import ChannelWiseDivergence
from .feature_mimic import L1FeatureLoss, MSEFeatureLoss
from .gram import GramMatrixLoss
from .kl_divergence import KLDivergence
from .weighted_ce import ClassWeightedCrossEntropyLoss

__all__ = [
    'BaseDistillLoss', 'ChannelWiseDivergence',
    'ClassWeightedCrossEntropyLoss', 'CosineSimilarityLoss',
    'GramMatrixLoss', 'KLDivergence', 'L1FeatureLoss', 'MSEFeatureLoss'
]
