# Copyright (c) mmkd contributors. All rights reserved.
from .datasets import (OVCocoDataset, OVDatasetMixin, OVDigitScenesDetDataset,
                       OVLVISV1Dataset, prepare_digit_scenes_ov_split)
from .digit_crops import (DIGIT_CLIP_TEMPLATE, DIGIT_PROMPT_NAMES, DIGIT_WORDS,
                          DigitCropDataset, digit_crop_box)
from .split import (DIGIT_SCENES_BASE_CLASSES, DIGIT_SCENES_NOVEL_CLASSES,
                    OV_COCO_BASE_CLASSES, OV_COCO_CLASSES,
                    OV_COCO_NOVEL_CLASSES, check_class_split,
                    lvis_frequency_split, read_ov_split_summary, split_coco,
                    write_ov_split, write_ov_splits)

__all__ = [
    'DIGIT_CLIP_TEMPLATE', 'DIGIT_PROMPT_NAMES', 'DIGIT_SCENES_BASE_CLASSES',
    'DIGIT_SCENES_NOVEL_CLASSES', 'DIGIT_WORDS', 'DigitCropDataset',
    'OV_COCO_BASE_CLASSES', 'OV_COCO_CLASSES', 'OV_COCO_NOVEL_CLASSES',
    'OVCocoDataset', 'OVDatasetMixin', 'OVDigitScenesDetDataset',
    'OVLVISV1Dataset', 'check_class_split', 'digit_crop_box',
    'lvis_frequency_split', 'prepare_digit_scenes_ov_split',
    'read_ov_split_summary', 'split_coco', 'write_ov_split', 'write_ov_splits'
]
