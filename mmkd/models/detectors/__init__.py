# Copyright (c) mmkd contributors. All rights reserved.
from .bev_detector import BEVDetector

__all__ = ['BEVDetector']
