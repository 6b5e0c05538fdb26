# Copyright (c) mmkd contributors. All rights reserved.
from typing import Optional

import torch.nn.functional as F
from mmdet.models.losses.utils import weighted_loss
from torch import Tensor

from mmkd.registry import MODELS
from .base_distill_loss import BaseDistillLoss


@weighted_loss
def kl_divergence(pred: Tensor, target: Tensor, tau: float = 1.0) -> Tensor:
    r"""Temperature-scaled KL divergence over the class dimension.

    For every position, :math:`\tau^2 \sum_c p^T_c \log(p^T_c / p^S_c)`
    with :math:`p = \mathrm{softmax}(z / \tau)` over dim 1. Both
    distributions are built with ``log_softmax`` so identical logits give
    exactly zero.

    Args:
        pred (Tensor): Student logits of shape (N, C, *), e.g. (N, C) or
            (N, C, H, W).
        target (Tensor): Teacher logits of the same shape; detached here.
        tau (float): Softmax temperature. Defaults to 1.0.

    Returns:
        Tensor: Loss of shape (N, *), one value per position.
    """
    if pred.dim() < 2:
        raise ValueError('KLDivergence expects inputs of shape (N, C, *), '
                         f'but got {tuple(pred.shape)}')
    log_p_s = F.log_softmax(pred / tau, dim=1)
    log_p_t = F.log_softmax(target.detach() / tau, dim=1)
    loss = F.kl_div(log_p_s, log_p_t, reduction='none', log_target=True)
    return loss.sum(dim=1) * (tau**2)


@MODELS.register_module()
class KLDivergence(BaseDistillLoss):
    """KL divergence between teacher and student class distributions.

    Response-based distillation (Hinton et al., 2015): the student's softened
    distribution is pulled towards the teacher's. Works for classification
    logits (N, C) and dense logits (N, C, H, W); the softmax is over dim 1.

    Args:
        tau (float): Softmax temperature; the loss is multiplied by
            ``tau ** 2`` to keep gradient magnitudes. Defaults to 1.0.
        loss_weight (float): Factor multiplied with the loss.
            Defaults to 1.0.
        reduction (str): ``'none'``, ``'mean'`` (over all positions, i.e. N
            and any spatial dims) or ``'sum'``. Defaults to ``'mean'``.

    Example:
        >>> import torch
        >>> loss = KLDivergence(tau=4.0)
        >>> logits = torch.randn(2, 10)
        >>> float(loss(logits, logits))
        0.0
    """

    requires_same_shape = True

    def __init__(self,
                 tau: float = 1.0,
                 loss_weight: float = 1.0,
                 reduction: str = 'mean') -> None:
        super().__init__(loss_weight=loss_weight, reduction=reduction)
        if tau <= 0:
            raise ValueError(f'tau must be positive, but got {tau!r}')
        self.tau = tau

    def forward(self,
                pred: Tensor,
                target: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """Compute the loss.

        Args:
            pred (Tensor): Student logits of shape (N, C, *).
            target (Tensor): Teacher logits of shape (N, C, *).
            weight (Tensor, optional): Per-position weight of shape
                (N, *). Defaults to None.
            avg_factor (float, optional): Divisor used instead of the number
                of positions when ``reduction='mean'``. Defaults to None.
            reduction_override (str, optional): Overrides ``reduction``.
                Defaults to None.

        Returns:
            Tensor: A scalar, or shape (N, *) for ``reduction='none'``.
        """
        reduction = self._get_reduction(reduction_override)
        return self.loss_weight * kl_divergence(
            pred,
            target,
            weight,
            reduction=reduction,
            avg_factor=avg_factor,
            tau=self.tau)

    def extra_repr(self) -> str:
        return f'tau={self.tau}, ' + super().extra_repr()
