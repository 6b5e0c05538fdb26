# Copyright (c) mmkd contributors. All rights reserved.
from .datasets import (DigitScenesDataset, DigitScenesDetDataset,
                       prepare_digit_scenes)
from .generate import (DIGIT_SCENES_CLASSES, DIGIT_SCENES_PALETTE,
                       digit_pool_split, load_digit_scans, make_digit_scenes,
                       render_canvas)

__all__ = [
    'DIGIT_SCENES_CLASSES', 'DIGIT_SCENES_PALETTE', 'DigitScenesDataset',
    'DigitScenesDetDataset', 'digit_pool_split', 'load_digit_scans',
    'make_digit_scenes', 'prepare_digit_scenes', 'render_canvas'
]
