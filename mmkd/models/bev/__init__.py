# Copyright (c) mmkd contributors. All rights reserved.
"""BEV model parts built on mmdet3d: a LiDAR / camera / fused detector, the
lift-splat-shoot camera view transform and the fuser. Not imported by
``mmkd.models``: the registry imports this package when a config names one
of its types, so the engine never needs mmdet3d."""
from .bev_detector import BEVDetector
from .conv_fuser import ConvFuser
from .lss import LSSViewTransform

__all__ = ['BEVDetector', 'ConvFuser', 'LSSViewTransform']
