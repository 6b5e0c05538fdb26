# Copyright (c) mmkd contributors. All rights reserved.
"""Segmentor options shared by several methods' protocols."""
from .coarse_label import CoarseLabelEncoderDecoder, labels_at

__all__ = ['CoarseLabelEncoderDecoder', 'labels_at']
