# Copyright (c) mmkd contributors. All rights reserved.
from typing import Optional

from mmdet.models.losses.utils import weighted_loss
from torch import Tensor

from mmkd.registry import MODELS
from .base_distill_loss import BaseDistillLoss


def standardize_channels(feat: Tensor, eps: float = 1e-6) -> Tensor:
    """Standardise every channel map to zero mean and unit std.

    Statistics are taken per sample and channel over the spatial dims, with
    the biased (population) standard deviation, as in PKD (Cao et al.,
    "PKD: General Distillation Framework for Object Detectors via Pearson
    Correlation Coefficient", NeurIPS 2022).

    Args:
        feat (Tensor): Feature maps of shape (N, C, H, W) (any (N, C, *)
            with at least one spatial dim).
        eps (float): Added to the std to avoid division by zero.
            Defaults to 1e-6.

    Returns:
        Tensor: Standardised maps, same shape as ``feat``.
    """
    if feat.dim() < 3:
        raise ValueError('normalize=True needs inputs of shape (N, C, H, W), '
                         f'but got {tuple(feat.shape)}')
    dims = tuple(range(2, feat.dim()))
    mean = feat.mean(dim=dims, keepdim=True)
    std = feat.std(dim=dims, keepdim=True, unbiased=False)
    return (feat - mean) / (std + eps)


@weighted_loss
def mse_feature_loss(pred: Tensor,
                     target: Tensor,
                     normalize: bool = False) -> Tensor:
    """Element-wise squared difference of two feature maps.

    Args:
        pred (Tensor): Student features of shape (N, C, H, W) (any shape
            when ``normalize`` is False).
        target (Tensor): Teacher features of the same shape; detached here.
        normalize (bool): Standardise each channel of both maps first.
            Defaults to False.

    Returns:
        Tensor: Loss of the same shape as ``pred``.
    """
    target = target.detach()
    if normalize:
        pred, target = standardize_channels(pred), standardize_channels(target)
    return (pred - target)**2


@weighted_loss
def l1_feature_loss(pred: Tensor,
                    target: Tensor,
                    normalize: bool = False) -> Tensor:
    """Element-wise absolute difference of two feature maps.

    Args:
        pred (Tensor): Student features of shape (N, C, H, W) (any shape
            when ``normalize`` is False).
        target (Tensor): Teacher features of the same shape; detached here.
        normalize (bool): Standardise each channel of both maps first.
            Defaults to False.

    Returns:
        Tensor: Loss of the same shape as ``pred``.
    """
    target = target.detach()
    if normalize:
        pred, target = standardize_channels(pred), standardize_channels(target)
    return (pred - target).abs()


class _FeatureMimicLoss(BaseDistillLoss):
    """Shared body of the element-wise feature-mimicking losses."""

    requires_same_shape = True
    _loss_func = None

    def __init__(self,
                 normalize: bool = False,
                 loss_weight: float = 1.0,
                 reduction: str = 'mean',
                 sigmoid: bool = False) -> None:
        super().__init__(loss_weight=loss_weight, reduction=reduction)
        if normalize and sigmoid:
            raise ValueError(f'{type(self).__name__}: normalize and sigmoid '
                             'exclude each other (standardised '
                             'probabilities are no probabilities)')
        self.normalize = normalize
        self.sigmoid = sigmoid

    def forward(self,
                pred: Tensor,
                target: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """Compute the loss.

        Args:
            pred (Tensor): Student features of shape (N, C, H, W).
            target (Tensor): Teacher features of shape (N, C, H, W).
            weight (Tensor, optional): Element-wise weight broadcastable to
                (N, C, H, W), e.g. a foreground mask of shape (N, 1, H, W).
                Defaults to None.
            avg_factor (float, optional): Divisor used instead of the number
                of elements when ``reduction='mean'``. Defaults to None.
            reduction_override (str, optional): Overrides ``reduction``.
                Defaults to None.

        Returns:
            Tensor: A scalar, or shape (N, C, H, W) for
            ``reduction='none'``.
        """
        reduction = self._get_reduction(reduction_override)
        if self.sigmoid:
            # logits of dense heads: compare the probabilities
            pred, target = pred.sigmoid(), target.sigmoid()
        return self.loss_weight * self._loss_func(
            pred,
            target,
            weight,
            reduction=reduction,
            avg_factor=avg_factor,
            normalize=self.normalize)

    def extra_repr(self) -> str:
        return (f'normalize={self.normalize}, sigmoid={self.sigmoid}, ' +
                super().extra_repr())


@MODELS.register_module()
class MSEFeatureLoss(_FeatureMimicLoss):
    """Mean squared error between student and teacher features.

    The plain feature-mimicking loss (FitNets, Romero et al., 2015); with
    ``normalize=True`` both maps are standardised per channel first, which
    is the PKD loss (Cao et al., 2022) up to a constant factor.

    Args:
        normalize (bool): Standardise each channel of both maps over its
            spatial positions (zero mean, unit std, eps 1e-6) before
            comparing. Defaults to False.
        loss_weight (float): Factor multiplied with the loss.
            Defaults to 1.0.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'`` over elements.
            Defaults to ``'mean'``.
        sigmoid (bool): Compare the sigmoids of both maps, e.g. the
            heat-map logits of a CenterPoint head. Defaults to False.

    Example:
        >>> import torch
        >>> loss = MSEFeatureLoss(normalize=True)
        >>> feat = torch.randn(2, 4, 5, 5)
        >>> float(loss(feat, 3 * feat + 1)) < 1e-6
        True
    """

    _loss_func = staticmethod(mse_feature_loss)


@MODELS.register_module()
class L1FeatureLoss(_FeatureMimicLoss):
    """Mean absolute error between student and teacher features.

    Args:
        normalize (bool): Standardise each channel of both maps over its
            spatial positions (zero mean, unit std, eps 1e-6) before
            comparing. Defaults to False.
        loss_weight (float): Factor multiplied with the loss.
            Defaults to 1.0.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'`` over elements.
            Defaults to ``'mean'``.
        sigmoid (bool): Compare the sigmoids of both maps, e.g. the
            heat-map logits of a CenterPoint head. Defaults to False.

    Example:
        >>> import torch
        >>> loss = L1FeatureLoss(reduction='none')
        >>> loss(torch.zeros(1, 2, 3, 3), torch.ones(1, 2, 3, 3)).shape
        torch.Size([1, 2, 3, 3])
    """

    _loss_func = staticmethod(l1_feature_loss)
