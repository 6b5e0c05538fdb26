# Copyright (c) mmkd contributors. All rights reserved.
from .conv_fuser import ConvFuser

__all__ = ['ConvFuser']
