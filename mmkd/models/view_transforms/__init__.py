# Copyright (c) mmkd contributors. All rights reserved.
from .lss import LSSViewTransform

__all__ = ['LSSViewTransform']
