# Copyright (c) mmkd contributors. All rights reserved.
from .multiview_image_aug import MultiViewImageResizeCrop

__all__ = ['MultiViewImageResizeCrop']
