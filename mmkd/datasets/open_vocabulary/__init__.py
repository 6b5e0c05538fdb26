# Copyright (c) mmkd contributors. All rights reserved.
from .datasets import (OVCocoDataset, OVDatasetMixin, OVDigitScenesDetDataset,
                       prepare_digit_scenes_ov_split)
from .digit_crops import (DIGIT_CLIP_TEMPLATE, DIGIT_PROMPT_NAMES, DIGIT_WORDS,
                          DigitCropDataset, digit_crop_box)
from .split import (DIGIT_SCENES_BASE_CLASSES, DIGIT_SCENES_NOVEL_CLASSES,
                    OV_COCO_BASE_CLASSES, OV_COCO_CLASSES,
                    OV_COCO_NOVEL_CLASSES, check_class_split, split_coco,
                    write_ov_split, write_ov_splits)

__all__ = [
    'DIGIT_CLIP_TEMPLATE', 'DIGIT_PROMPT_NAMES', 'DIGIT_SCENES_BASE_CLASSES',
    'DIGIT_SCENES_NOVEL_CLASSES', 'DIGIT_WORDS', 'DigitCropDataset',
    'OV_COCO_BASE_CLASSES', 'OV_COCO_CLASSES', 'OV_COCO_NOVEL_CLASSES',
    'OVCocoDataset', 'OVDatasetMixin', 'OVDigitScenesDetDataset',
    'check_class_split', 'digit_crop_box', 'prepare_digit_scenes_ov_split',
    'split_coco', 'write_ov_split', 'write_ov_splits'
]
