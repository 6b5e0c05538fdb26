# Copyright (c) mmkd contributors. All rights reserved.
import numbers
from typing import Optional

import torch.nn as nn

_REDUCTIONS = ('none', 'mean', 'sum')


def check_reduction(reduction: Optional[str],
                    allow_none: bool = False) -> None:
    """Raise a ``ValueError`` quoting ``reduction`` when it is not valid.

    Args:
        reduction (str, optional): One of ``'none'``, ``'mean'`` and
            ``'sum'``.
        allow_none (bool): Whether ``None`` (no override) is accepted.
            Defaults to False.
    """
    if reduction is None and allow_none:
        return
    if reduction not in _REDUCTIONS:
        raise ValueError(f'reduction must be one of {_REDUCTIONS}, '
                         f'but got {reduction!r}')


def check_loss_weight(loss_weight: float, owner: str) -> None:
    """Refuse a ``loss_weight`` that is negative or not a number.

    A negative weight turns a distillation loss into a reward for moving
    away from the teacher, which trains without any error. Zero switches
    the loss off and is allowed.

    Args:
        loss_weight (float): The weight to check.
        owner (str): The loss, named in the message.
    """
    if isinstance(loss_weight, bool) or not isinstance(
            loss_weight, numbers.Real):
        raise TypeError(f'{owner}: loss_weight must be a number, got '
                        f'{loss_weight!r}')
    if not loss_weight >= 0:  # also refuses NaN
        raise ValueError(
            f'{owner}: loss_weight must be >= 0 (0 switches the loss off), '
            f'got {loss_weight!r}; a negative weight pushes the student '
            'away from the teacher')


class BaseDistillLoss(nn.Module):
    """Common arguments of the mmkd distillation losses.

    Every subclass is called as ``loss(pred, target, weight=None,
    avg_factor=None, reduction_override=None)`` where ``pred`` comes from the
    student (after an optional connector) and ``target`` from the teacher;
    the target is detached inside the loss. The reduction itself is done by
    :func:`mmdet.models.losses.utils.weight_reduce_loss`.

    Note:
        ``requires_same_shape`` tells the distillation engine whether
        ``pred`` and ``target`` must have identical shapes; it checks the
        attribute before calling the loss and suggests a connector.

    Args:
        loss_weight (float): Factor multiplied with the loss, >= 0.
            Defaults to 1.0.
        reduction (str): How the element-wise loss is reduced, one of
            ``'none'``, ``'mean'`` and ``'sum'``. Defaults to ``'mean'``.
    """

    requires_same_shape: bool = True

    def __init__(self,
                 loss_weight: float = 1.0,
                 reduction: str = 'mean') -> None:
        super().__init__()
        check_reduction(reduction)
        check_loss_weight(loss_weight, type(self).__name__)
        self.loss_weight = loss_weight
        self.reduction = reduction

    def _get_reduction(self, reduction_override: Optional[str]) -> str:
        """Return ``reduction_override`` if given, else ``self.reduction``."""
        check_reduction(reduction_override, allow_none=True)
        return reduction_override if reduction_override else self.reduction

    def extra_repr(self) -> str:
        return (f'loss_weight={self.loss_weight}, '
                f'reduction={self.reduction!r}')
