# Copyright (c) mmkd contributors. All rights reserved.
from .digit_scenes import (DIGIT_SCENES_CLASSES, DIGIT_SCENES_PALETTE,
                           DigitScenesDataset, DigitScenesDetDataset,
                           digit_pool_split, make_digit_scenes)
from .open_vocabulary import OVCocoDataset, OVDigitScenesDetDataset
from .transforms import CheckSegLabels, MultiViewImageResizeCrop
from .voc_layout import VOCLayoutDataset

__all__ = [
    'CheckSegLabels', 'DIGIT_SCENES_CLASSES', 'DIGIT_SCENES_PALETTE',
    'DigitScenesDataset', 'DigitScenesDetDataset', 'MultiViewImageResizeCrop',
    'OVCocoDataset', 'OVDigitScenesDetDataset', 'VOCLayoutDataset',
    'digit_pool_split', 'make_digit_scenes'
]
