# Copyright (c) mmkd contributors. All rights reserved.
"""The asymmetric multi-label loss of OADP's global and block heads."""
import torch
from torch import Tensor

from mmkd.models.losses.base_distill_loss import (check_loss_weight,
                                                  check_reduction)
from mmkd.registry import MODELS


def asymmetric_loss(logits: Tensor,
                    targets: Tensor,
                    gamma_neg: float = 4.0,
                    gamma_pos: float = 0.0,
                    clip: float = 0.05,
                    eps: float = 1e-8) -> Tensor:
    """Element-wise asymmetric loss (Ridnik et al., "Asymmetric Loss For
    Multi-Label Classification", ICCV 2021).

    With ``p = sigmoid(logits)`` and ``p_m = max(p - clip, 0)``::

        positive: -(1 - p)^gamma_pos * log(p)
        negative: -p_m^gamma_neg * log(1 - p_m)

    The focusing weights ``(1 - p)^gamma_pos`` and ``p_m^gamma_neg`` carry
    no gradient (as OADP's and ASL's reference code); logarithms are of
    values clamped to ``eps``, so a ``-inf`` logit (a novel class in
    training) gives a finite loss of 0 as a negative and no gradient.

    Args:
        logits (Tensor): Shape (N, C).
        targets (Tensor): Shape (N, C), bool or 0/1.
        gamma_neg (float): Focusing of negatives. Defaults to 4.
        gamma_pos (float): Focusing of positives. Defaults to 0.
        clip (float): Probability shift of negatives. Defaults to 0.05.
        eps (float): Clamp of the logarithms' arguments. Defaults to 1e-8.

    Returns:
        Tensor: The loss, shape (N, C).
    """
    if logits.shape != targets.shape:
        raise ValueError(f'AsymmetricLoss: logits {tuple(logits.shape)} and '
                         f'targets {tuple(targets.shape)} differ in shape')
    targets = targets.to(logits.dtype)
    prob = logits.sigmoid()
    # 1 - p_m
    prob_neg = 1 - prob
    if clip > 0:
        prob_neg = (prob_neg + clip).clamp(max=1)
    loss = targets * prob.clamp(min=eps).log() + \
        (1 - targets) * prob_neg.clamp(min=eps).log()
    if gamma_neg > 0 or gamma_pos > 0:
        with torch.no_grad():
            # 1 - p for positives, p_m for negatives
            base = targets * (1 - prob) + (1 - targets) * (1 - prob_neg)
            gamma = targets * gamma_pos + (1 - targets) * gamma_neg
            weight = base.pow(gamma)
        loss = loss * weight
    return -loss


@MODELS.register_module()
class AsymmetricLoss(torch.nn.Module):
    """Asymmetric multi-label loss on logits, see :func:`asymmetric_loss`.

    Note:
        ``reduction='mean'`` averages over all N x C elements, as OADP's
        loss (todd's default reduction) does; ASL's reference code sums
        (``'sum'``).

    Args:
        gamma_neg (float): Defaults to 4.
        gamma_pos (float): Defaults to 0.
        clip (float): Defaults to 0.05.
        eps (float): Defaults to 1e-8.
        loss_weight (float): Factor of the loss, >= 0. Defaults to 1.0.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``. Defaults to
            ``'mean'``.
    """

    def __init__(self,
                 gamma_neg: float = 4.0,
                 gamma_pos: float = 0.0,
                 clip: float = 0.05,
                 eps: float = 1e-8,
                 loss_weight: float = 1.0,
                 reduction: str = 'mean') -> None:
        super().__init__()
        check_reduction(reduction)
        check_loss_weight(loss_weight, type(self).__name__)
        if not 0 <= clip < 1:
            raise ValueError(f'AsymmetricLoss: clip must be in [0, 1), got '
                             f'{clip!r}')
        self.gamma_neg = gamma_neg
        self.gamma_pos = gamma_pos
        self.clip = clip
        self.eps = eps
        self.loss_weight = loss_weight
        self.reduction = reduction

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        """The weighted loss of logits (N, C) and targets (N, C)."""
        loss = asymmetric_loss(logits, targets, self.gamma_neg, self.gamma_pos,
                               self.clip, self.eps)
        if self.reduction == 'mean':
            # no element: 0, still on the graph
            loss = loss.sum() if loss.numel() == 0 else loss.mean()
        elif self.reduction == 'sum':
            loss = loss.sum()
        return self.loss_weight * loss

    def extra_repr(self) -> str:
        return (f'gamma_neg={self.gamma_neg}, gamma_pos={self.gamma_pos}, '
                f'clip={self.clip}, loss_weight={self.loss_weight}, '
                f'reduction={self.reduction!r}')
