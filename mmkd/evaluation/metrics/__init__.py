# Copyright (c) mmkd contributors. All rights reserved.
from .boundary_iou import BoundaryIoUMetric, inner_boundary
from .ov_coco_metric import OVCocoMetric
from .scaled_iou import IoUMetric, nearest_labels, scaled_size

__all__ = [
    'BoundaryIoUMetric', 'IoUMetric', 'OVCocoMetric', 'inner_boundary',
    'nearest_labels', 'scaled_size'
]
