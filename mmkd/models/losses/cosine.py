# Copyright (c) mmkd contributors. All rights reserved.
from typing import Optional

import torch.nn.functional as F
from mmdet.models.losses.utils import weighted_loss
from torch import Tensor

from mmkd.registry import MODELS
from .base_distill_loss import BaseDistillLoss


@weighted_loss
def cosine_similarity_loss(pred: Tensor,
                           target: Tensor,
                           eps: float = 1e-8) -> Tensor:
    """One minus the cosine similarity of the channel vectors.

    Args:
        pred (Tensor): Student features of shape (N, C, *), e.g. (N, C) or
            (N, C, H, W).
        target (Tensor): Teacher features of the same shape; detached here.
        eps (float): Lower bound of the vector norms. Defaults to 1e-8.

    Returns:
        Tensor: Loss in [0, 2] of shape (N, *), one value per position.
    """
    if pred.dim() < 2:
        raise ValueError('CosineSimilarityLoss expects inputs of shape '
                         f'(N, C, *), but got {tuple(pred.shape)}')
    cos = F.cosine_similarity(pred, target.detach(), dim=1, eps=eps)
    # rounding can push the similarity of parallel vectors just above 1
    return (1 - cos).clamp(min=0)


@MODELS.register_module()
class CosineSimilarityLoss(BaseDistillLoss):
    """Cosine distance between student and teacher features.

    For every position the C-dim vectors of both maps are compared by
    ``1 - cos(s, t)``; the loss ignores the feature scale.

    Args:
        eps (float): Lower bound of the vector norms. Defaults to 1e-8.
        loss_weight (float): Factor multiplied with the loss.
            Defaults to 1.0.
        reduction (str): ``'none'``, ``'mean'`` (over N and any spatial
            dims) or ``'sum'``. Defaults to ``'mean'``.

    Example:
        >>> import torch
        >>> loss = CosineSimilarityLoss(reduction='none')
        >>> loss(torch.randn(2, 8, 4, 4), torch.randn(2, 8, 4, 4)).shape
        torch.Size([2, 4, 4])
    """

    requires_same_shape = True

    def __init__(self,
                 eps: float = 1e-8,
                 loss_weight: float = 1.0,
                 reduction: str = 'mean') -> None:
        super().__init__(loss_weight=loss_weight, reduction=reduction)
        self.eps = eps

    def forward(self,
                pred: Tensor,
                target: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """Compute the loss.

        Args:
            pred (Tensor): Student features of shape (N, C, *).
            target (Tensor): Teacher features of shape (N, C, *).
            weight (Tensor, optional): Per-position weight of shape (N, *).
                Defaults to None.
            avg_factor (float, optional): Divisor used instead of the number
                of positions when ``reduction='mean'``. Defaults to None.
            reduction_override (str, optional): Overrides ``reduction``.
                Defaults to None.

        Returns:
            Tensor: A scalar, or shape (N, *) for ``reduction='none'``.
        """
        reduction = self._get_reduction(reduction_override)
        return self.loss_weight * cosine_similarity_loss(
            pred,
            target,
            weight,
            reduction=reduction,
            avg_factor=avg_factor,
            eps=self.eps)
