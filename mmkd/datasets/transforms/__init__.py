# Copyright (c) mmkd contributors. All rights reserved.
from .cached_records import (RECORD_GROUPS, LoadCachedRecords,
                             PackCachedRecords, TransformCachedBoxes)
from .check_seg_labels import CheckSegLabels
from .multiview_image_aug import MultiViewImageResizeCrop
from .teacher_views import (TEACHER_INPUTS, CopyView, PackTeacherView,
                            SharedAugment)

__all__ = [
    'CheckSegLabels', 'CopyView', 'LoadCachedRecords',
    'MultiViewImageResizeCrop', 'PackCachedRecords', 'PackTeacherView',
    'RECORD_GROUPS', 'SharedAugment', 'TEACHER_INPUTS', 'TransformCachedBoxes'
]
