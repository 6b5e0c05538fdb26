# Copyright (c) mmkd contributors. All rights reserved.
from .metrics import (BoundaryIoUMetric, IoUMetric, OVCocoMetric,
                      inner_boundary, nearest_labels, scaled_size)

__all__ = [
    'BoundaryIoUMetric', 'IoUMetric', 'OVCocoMetric', 'inner_boundary',
    'nearest_labels', 'scaled_size'
]
