# Copyright (c) mmkd contributors. All rights reserved.
from .metrics import (BoundaryIoUMetric, IoUMetric, inner_boundary,
                      nearest_labels, scaled_size)

__all__ = [
    'BoundaryIoUMetric', 'IoUMetric', 'inner_boundary', 'nearest_labels',
    'scaled_size'
]
