# Copyright (c) mmkd contributors. All rights reserved.
from .multiview_image_aug import MultiViewImageResizeCrop
from .teacher_views import (TEACHER_INPUTS, CopyView, PackTeacherView,
                            SharedAugment)

__all__ = [
    'CopyView', 'MultiViewImageResizeCrop', 'PackTeacherView',
    'SharedAugment', 'TEACHER_INPUTS'
]
