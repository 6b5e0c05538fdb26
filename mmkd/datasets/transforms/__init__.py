# Copyright (c) mmkd contributors. All rights reserved.
from .check_seg_labels import CheckSegLabels
from .multiview_image_aug import MultiViewImageResizeCrop

__all__ = ['CheckSegLabels', 'MultiViewImageResizeCrop']
