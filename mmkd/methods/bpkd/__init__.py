# Copyright (c) mmkd contributors. All rights reserved.
"""BPKD: Boundary Privileged Knowledge Distillation for semantic
segmentation (Liu et al., WACV 2024)."""
from .edge_mask import (boundary_edge_mask, boundary_masks, label_edges,
                        stack_gt_labels)
from .losses import BoundaryBodyLoss, BoundaryEdgeLoss

__all__ = [
    'BoundaryBodyLoss', 'BoundaryEdgeLoss', 'boundary_edge_mask',
    'boundary_masks', 'label_edges', 'stack_gt_labels'
]
