# Copyright (c) mmkd contributors. All rights reserved.
from typing import Optional

import torch.nn.functional as F
from mmdet.models.losses.utils import weighted_loss
from torch import Tensor

from mmkd.registry import MODELS
from .base_distill_loss import BaseDistillLoss


@weighted_loss
def channel_wise_divergence(pred: Tensor,
                            target: Tensor,
                            tau: float = 1.0) -> Tensor:
    r"""Per-channel KL divergence of spatial distributions.

    Each channel map is turned into a distribution over its H * W positions
    with ``softmax(x / tau)``; the result is
    :math:`\tau^2 \sum_{hw} p^T \log(p^T / p^S)` for every channel.

    Args:
        pred (Tensor): Student feature or logit maps of shape (N, C, H, W)
            (any (N, C, *) with at least one spatial dim).
        target (Tensor): Teacher maps of the same shape; detached here.
        tau (float): Softmax temperature. Defaults to 1.0.

    Returns:
        Tensor: Loss of shape (N, C), one value per channel map.
    """
    if pred.dim() < 3:
        raise ValueError('ChannelWiseDivergence expects inputs of shape '
                         f'(N, C, H, W), but got {tuple(pred.shape)}')
    log_p_s = F.log_softmax(pred.flatten(2) / tau, dim=2)
    log_p_t = F.log_softmax(target.detach().flatten(2) / tau, dim=2)
    loss = F.kl_div(log_p_s, log_p_t, reduction='none', log_target=True)
    return loss.sum(dim=2) * (tau**2)


@MODELS.register_module()
class ChannelWiseDivergence(BaseDistillLoss):
    """Channel-wise distillation (CWD) for dense prediction.

    Shu et al., "Channel-wise Knowledge Distillation for Dense Prediction",
    ICCV 2021. With ``reduction='mean'`` the value is
    ``tau**2 / (N * C) * sum_{n, c} KL(p^T_{n,c} || p^S_{n,c})`` where each
    ``p_{n,c}`` is the softmax of one channel map over its H * W positions.

    Args:
        tau (float): Softmax temperature. Defaults to 1.0.
        loss_weight (float): Factor multiplied with the loss.
            Defaults to 1.0.
        reduction (str): ``'none'``, ``'mean'`` (over the N * C channel maps)
            or ``'sum'``. Defaults to ``'mean'``.

    Example:
        >>> import torch
        >>> loss = ChannelWiseDivergence(tau=4.0, reduction='none')
        >>> feat = torch.randn(2, 3, 8, 8)
        >>> loss(feat, torch.randn(2, 3, 8, 8)).shape
        torch.Size([2, 3])
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
            pred (Tensor): Student maps of shape (N, C, H, W).
            target (Tensor): Teacher maps of shape (N, C, H, W).
            weight (Tensor, optional): Per-channel weight of shape (N, C).
                Defaults to None.
            avg_factor (float, optional): Divisor used instead of N * C when
                ``reduction='mean'``. Defaults to None.
            reduction_override (str, optional): Overrides ``reduction``.
                Defaults to None.

        Returns:
            Tensor: A scalar, or shape (N, C) for ``reduction='none'``.
        """
        reduction = self._get_reduction(reduction_override)
        return self.loss_weight * channel_wise_divergence(
            pred,
            target,
            weight,
            reduction=reduction,
            avg_factor=avg_factor,
            tau=self.tau)

    def extra_repr(self) -> str:
        return f'tau={self.tau}, ' + super().extra_repr()
