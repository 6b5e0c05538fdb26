# Copyright (c) mmkd contributors. All rights reserved.
from typing import Optional

import torch
import torch.nn.functional as F
from mmdet.models.losses.utils import weighted_loss
from torch import Tensor

from mmkd.registry import MODELS
from .base_distill_loss import BaseDistillLoss

_MODES = ('channel', 'spatial')


def gram_matrix(feat: Tensor, mode: str = 'channel') -> Tensor:
    """Relation matrix of a batch of feature maps.

    Args:
        feat (Tensor): Features of shape (N, C, H, W) (any (N, C, *)).
        mode (str): ``'channel'`` gives ``F @ F^T / (H * W)`` of shape
            (N, C, C) with ``F`` the (N, C, H * W) flattened features;
            ``'spatial'`` L2-normalises each position's C-vector and gives
            ``F^T @ F`` of shape (N, H * W, H * W). Defaults to
            ``'channel'``.

    Returns:
        Tensor: The relation matrix.
    """
    feat = feat.flatten(2)
    if mode == 'channel':
        return torch.bmm(feat, feat.transpose(1, 2)) / feat.shape[2]
    feat = F.normalize(feat, p=2, dim=1)
    return torch.bmm(feat.transpose(1, 2), feat)


def _check_shapes(pred: Tensor, target: Tensor, mode: str) -> None:
    """Raise a ``ValueError`` naming both shapes if they cannot match."""
    if pred.dim() < 3 or target.dim() < 3:
        raise ValueError('GramMatrixLoss expects inputs of shape '
                         f'(N, C, H, W), but got pred {tuple(pred.shape)} '
                         f'and target {tuple(target.shape)}')
    if mode == 'channel':
        same = pred.shape[:2] == target.shape[:2]
        need = 'the same N and C'
    else:
        same = (
            pred.shape[0] == target.shape[0]
            and pred.shape[2:] == target.shape[2:])
        need = 'the same N and spatial size'
    if not same:
        raise ValueError(f'GramMatrixLoss(mode={mode!r}) needs {need}, but '
                         f'got pred {tuple(pred.shape)} and target '
                         f'{tuple(target.shape)}')


@weighted_loss
def gram_matrix_loss(pred: Tensor,
                     target: Tensor,
                     mode: str = 'channel') -> Tensor:
    """Squared difference of the student and teacher relation matrices.

    Args:
        pred (Tensor): Student features of shape (N, C_s, H, W).
        target (Tensor): Teacher features of shape (N, C_t, H_t, W_t),
            detached here. ``'channel'`` mode needs ``C_s == C_t``;
            ``'spatial'`` mode needs ``(H, W) == (H_t, W_t)``.
        mode (str): ``'channel'`` or ``'spatial'``, see :func:`gram_matrix`.
            Defaults to ``'channel'``.

    Returns:
        Tensor: Loss of shape (N, C, C) (channel) or (N, H * W, H * W)
        (spatial).
    """
    _check_shapes(pred, target, mode)
    return (gram_matrix(pred, mode) - gram_matrix(target.detach(), mode))**2


@MODELS.register_module()
class GramMatrixLoss(BaseDistillLoss):
    """Relation distillation by matching Gram (similarity) matrices.

    ``mode='channel'`` compares the (C, C) channel correlations
    ``F F^T / (H * W)`` (style / inter-channel relations);
    ``mode='spatial'`` compares the (H * W, H * W) cosine similarities
    between positions, so student and teacher may have different channel
    numbers but need the same spatial size.

    Note:
        ``requires_same_shape`` is an instance attribute: True in channel
        mode, False in spatial mode, where the loss itself raises a
        ``ValueError`` naming both shapes if the spatial sizes differ.

    Args:
        mode (str): ``'channel'`` or ``'spatial'``. Defaults to
            ``'channel'``.
        loss_weight (float): Factor multiplied with the loss.
            Defaults to 1.0.
        reduction (str): ``'none'``, ``'mean'`` (over all matrix entries)
            or ``'sum'``. Defaults to ``'mean'``.

    Example:
        >>> import torch
        >>> loss = GramMatrixLoss(mode='spatial', reduction='none')
        >>> loss(torch.randn(2, 8, 3, 4), torch.randn(2, 16, 3, 4)).shape
        torch.Size([2, 12, 12])
    """

    requires_same_shape = False

    def __init__(self,
                 mode: str = 'channel',
                 loss_weight: float = 1.0,
                 reduction: str = 'mean') -> None:
        super().__init__(loss_weight=loss_weight, reduction=reduction)
        if mode not in _MODES:
            raise ValueError(f'mode must be one of {_MODES}, '
                             f'but got {mode!r}')
        self.mode = mode
        self.requires_same_shape = mode == 'channel'

    def forward(self,
                pred: Tensor,
                target: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """Compute the loss.

        Args:
            pred (Tensor): Student features of shape (N, C_s, H, W).
            target (Tensor): Teacher features of shape (N, C_t, H, W).
            weight (Tensor, optional): Weight broadcastable to the relation
                matrices, (N, C, C) or (N, H * W, H * W). Defaults to None.
            avg_factor (float, optional): Divisor used instead of the number
                of matrix entries when ``reduction='mean'``.
                Defaults to None.
            reduction_override (str, optional): Overrides ``reduction``.
                Defaults to None.

        Returns:
            Tensor: A scalar, or the (N, C, C) / (N, H * W, H * W)
            element-wise loss for ``reduction='none'``.
        """
        reduction = self._get_reduction(reduction_override)
        return self.loss_weight * gram_matrix_loss(
            pred,
            target,
            weight,
            reduction=reduction,
            avg_factor=avg_factor,
            mode=self.mode)

    def extra_repr(self) -> str:
        return f'mode={self.mode!r}, ' + super().extra_repr()
