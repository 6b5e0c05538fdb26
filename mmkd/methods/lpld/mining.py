# Copyright (c) mmkd contributors. All rights reserved.
"""Low-confidence pseudo label (LPL) mining of LPLD (Yoon et al., ECCV
2024): teacher proposals that no confident pseudo label covers but whose
teacher class scores still point at an object."""
from typing import Callable, Optional

import torch
from mmdet.structures.bbox import bbox_overlaps
from torch import Tensor


def refine_proposals(proposals: Tensor, cls_logits: Tensor,
                     bbox_deltas: Tensor,
                     decode: Callable[[Tensor, Tensor], Tensor]) -> Tensor:
    """Refine each proposal by the teacher's regression of its argmax class.

    Background is the last of the ``K + 1`` logits (mmdet's convention);
    a proposal whose argmax is background is kept as it is. Refined boxes
    are not clipped (as in the official code).

    Args:
        proposals (Tensor): (R, 4) boxes, x1y1x2y2.
        cls_logits (Tensor): (R, K + 1) teacher classification logits.
        bbox_deltas (Tensor): (R, 4 * K) class-specific or (R, 4)
            class-agnostic teacher regression outputs.
        decode (callable): ``decode(proposals, deltas) -> boxes``, e.g. the
            teacher bbox head's ``bbox_coder.decode``.

    Returns:
        Tensor: (R, 4) refined boxes.
    """
    num_fg = cls_logits.shape[1] - 1
    labels = cls_logits.argmax(dim=1)
    if bbox_deltas.shape[1] == 4:
        deltas = bbox_deltas
    else:
        if bbox_deltas.shape[1] != 4 * num_fg:
            raise ValueError(
                f'bbox_deltas of shape {tuple(bbox_deltas.shape)} match '
                f'neither 4 nor 4 * {num_fg} classes of the logits '
                f'{tuple(cls_logits.shape)}')
        index = labels.clamp(max=num_fg - 1)
        deltas = bbox_deltas.view(-1, num_fg, 4)[torch.arange(len(index)),
                                                  index]
    refined = decode(proposals, deltas)
    is_bg = (labels == num_fg)[:, None]
    return torch.where(is_bg, proposals, refined)


def mine_low_confidence(boxes: Tensor,
                        cls_logits: Tensor,
                        hpl_boxes: Tensor,
                        iou_thr: float = 0.4,
                        fg_score_thr: float = 0.9,
                        bg_score_thr: float = 0.99) -> Tensor:
    """Which teacher proposals are low-confidence pseudo labels.

    A proposal is kept when (1) its max IoU with the high-confidence pseudo
    labels is ``<= iou_thr`` (it is not one of them), (2) the teacher's
    softmax over the foreground logits alone has a max ``>= fg_score_thr``
    (it looks like one class), and (3) the background probability of the
    softmax over all ``K + 1`` logits is ``<= bg_score_thr``. Without
    high-confidence pseudo labels in the image, none is kept (the official
    code then skips the loss).

    Args:
        boxes (Tensor): (R, 4) refined teacher proposals.
        cls_logits (Tensor): (R, K + 1) teacher logits, background last.
        hpl_boxes (Tensor): (M, 4) high-confidence pseudo label boxes.
        iou_thr (float): Defaults to 0.4.
        fg_score_thr (float): Defaults to 0.9.
        bg_score_thr (float): Defaults to 0.99.

    Returns:
        Tensor: (R,) bool mask.
    """
    if len(hpl_boxes) == 0 or len(boxes) == 0:
        return boxes.new_zeros(len(boxes), dtype=torch.bool)
    max_iou = bbox_overlaps(boxes, hpl_boxes).max(dim=1).values
    fg_score = cls_logits[:, :-1].softmax(dim=1).max(dim=1).values
    bg_score = cls_logits.softmax(dim=1)[:, -1]
    return (max_iou <= iou_thr) & (fg_score >= fg_score_thr) & (
        bg_score <= bg_score_thr)


def feature_weight(student_feats: Tensor,
                   teacher_feats: Tensor,
                   eps: Optional[float] = 1e-12) -> Tensor:
    """``w = 1 - cos(student RoI feature, teacher RoI feature)``, detached.

    Args:
        student_feats (Tensor): (R, D) pooled student RoI features (or
            (R, D, h, w), mean-pooled here).
        teacher_feats (Tensor): Same shape, from the teacher.

    Returns:
        Tensor: (R,) weights in [0, 2] ([0, 1] for post-ReLU features).
    """
    if student_feats.shape != teacher_feats.shape:
        raise ValueError(
            f'student RoI features {tuple(student_feats.shape)} and teacher '
            f'RoI features {tuple(teacher_feats.shape)} differ in shape')
    s, t = student_feats.detach(), teacher_feats.detach()
    if s.dim() > 2:
        s, t = s.flatten(2).mean(2), t.flatten(2).mean(2)
    return 1 - torch.cosine_similarity(s, t, dim=1, eps=eps)
