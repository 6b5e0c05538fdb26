# Copyright (c) mmkd contributors. All rights reserved.
"""The soft boundary mask ``M_E`` of BPKD (Liu et al., WACV 2024, Fig. 3)."""
from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

EDGE_ORDERS = ('detect_then_onehot', 'onehot_then_detect')


def _dilate(x: Tensor, kernel_size: int) -> Tensor:
    return F.max_pool2d(x, kernel_size, 1, kernel_size // 2)


def _erode(x: Tensor, kernel_size: int) -> Tensor:
    # max_pool2d pads with -inf, so the image border does not erode
    return -F.max_pool2d(-x, kernel_size, 1, kernel_size // 2)


def label_edges(labels: Tensor, ignore_index: int = 255) -> Tensor:
    """Pixels whose 3x3 neighbourhood holds another valid label.

    Args:
        labels (Tensor): Label maps of shape (N, H, W).
        ignore_index (int): Label of pixels that are never edges and never
            make a neighbour an edge. Defaults to 255.

    Returns:
        Tensor: Bool edge map of shape (N, H, W).
    """
    valid = labels != ignore_index
    low = labels.masked_fill(~valid, -1).float()[:, None]
    high = labels.masked_fill(~valid, 1 << 20).float()[:, None]
    ref = labels[:, None].float()
    differs = (_dilate(low, 3) != ref) | (-_dilate(-high, 3) != ref)
    return differs[:, 0] & valid


def labels_to_onehot(labels: Tensor, num_classes: int,
                     ignore_index: int = 255) -> Tensor:
    """One-hot (N, C, H, W) float maps; ignore pixels are all zero."""
    valid = labels != ignore_index
    onehot = F.one_hot(labels.masked_fill(~valid, 0), num_classes)
    return onehot.permute(0, 3, 1, 2).float() * valid[:, None]


def boundary_edge_mask(labels: Tensor,
                       num_classes: int,
                       out_size: Tuple[int, int],
                       kernel_size: int = 5,
                       ignore_index: int = 255,
                       order: str = 'detect_then_onehot') -> Tensor:
    """Soft per-class boundary mask ``M_E`` at logit resolution.

    ``order='detect_then_onehot'`` (the figure's order): edge pixels of the
    label map (a valid 3x3 neighbour with another label) -> one-hot of their
    labels -> dilation minus erosion with a ``kernel_size`` square. With
    ``'onehot_then_detect'``: one-hot -> dilation minus erosion (the
    morphological gradient of each class region). Pixels labelled
    ``ignore_index`` are never edges and do not erode their neighbours, so
    borders with ignored regions (and the padding) are not boundaries. The
    full-resolution band is average-pooled by the label/logit size ratio,
    which gives values in [0, 1].

    Args:
        labels (Tensor): Ground-truth label maps of shape (N, H, W).
        num_classes (int): C; labels other than ``ignore_index`` must be
            smaller.
        out_size (tuple[int, int]): Logit size (h, w); ``H`` and ``W`` must
            be integer multiples of it.
        kernel_size (int): Odd dilation/erosion kernel. Defaults to 5.
        ignore_index (int): Defaults to 255.
        order (str): One of :data:`EDGE_ORDERS`.

    Returns:
        Tensor: Float mask of shape (N, C, h, w) with values in [0, 1].
    """
    if order not in EDGE_ORDERS:
        raise ValueError(f'order must be one of {EDGE_ORDERS}, got {order!r}')
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f'kernel_size must be odd and >= 1, got '
                         f'{kernel_size}')
    if labels.dim() != 3:
        raise ValueError('labels must have shape (N, H, W), got '
                         f'{tuple(labels.shape)}')
    valid = labels != ignore_index
    bad = valid & ((labels < 0) | (labels >= num_classes))
    if bad.any():
        raise ValueError(
            f'the label maps hold class {int(labels[bad][0])} but the logits '
            f'have {num_classes} classes (labels must be in '
            f'[0, {num_classes - 1}] or {ignore_index} = ignore)')
    height, width = labels.shape[-2:]
    h, w = out_size
    if height % h or width % w:
        raise ValueError(
            f'label maps of size {height}x{width} are not an integer '
            f'multiple of the logits\' size {h}x{w}; BPKD pools the '
            'boundary band by the label/logit size ratio')
    if order == 'onehot_then_detect':
        inside = labels_to_onehot(labels, num_classes, ignore_index)
        unknown = (~valid)[:, None].float()
        band = _dilate(inside, kernel_size) - _erode(
            torch.maximum(inside, unknown), kernel_size)
    else:
        edges = label_edges(labels, ignore_index)
        onehot = labels_to_onehot(labels, num_classes, ignore_index)
        on_edge = onehot * edges[:, None]
        band = _dilate(on_edge, kernel_size) - _erode(on_edge, kernel_size)
    band = band.clamp(0, 1) * valid[:, None]
    return F.avg_pool2d(band, (height // h, width // w))


def stack_gt_labels(data_samples: Sequence) -> Tensor:
    """``gt_sem_seg`` of mmseg data samples as one (N, H, W) long tensor."""
    if not data_samples or not all(
            hasattr(s, 'gt_sem_seg') for s in data_samples):
        raise ValueError('BPKD losses read the ground truth from the data '
                         'samples: each needs gt_sem_seg (mmseg '
                         'SegDataSample, packed by PackSegInputs)')
    maps: List[Tensor] = [s.gt_sem_seg.data for s in data_samples]
    shapes = {tuple(m.shape) for m in maps}
    if len(shapes) != 1:
        raise ValueError('gt_sem_seg of one batch differ in size '
                         f'({sorted(shapes)}); pad them to one size with '
                         'the data preprocessor (SegDataPreProcessor size= '
                         'or size_divisor=)')
    return torch.stack(maps).reshape(len(maps), *maps[0].shape[-2:]).long()
