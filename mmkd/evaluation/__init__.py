# Copyright (c) mmkd contributors. All rights reserved.
from .metrics import BoundaryIoUMetric, inner_boundary

__all__ = ['BoundaryIoUMetric', 'inner_boundary']
