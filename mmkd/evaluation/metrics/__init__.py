# Copyright (c) mmkd contributors. All rights reserved.
from .boundary_iou import BoundaryIoUMetric, inner_boundary

__all__ = ['BoundaryIoUMetric', 'inner_boundary']
