# Copyright (c) mmkd contributors. All rights reserved.
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
        loss_weight (float): Factor multiplied with the loss.
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
        self.loss_weight = loss_weight
        self.reduction = reduction

    def _get_reduction(self, reduction_override: Optional[str]) -> str:
        """Return ``reduction_override`` if given, else ``self.reduction``."""
        check_reduction(reduction_override, allow_none=True)
        return reduction_override if reduction_override else self.reduction

    def extra_repr(self) -> str:
        return (f'loss_weight={self.loss_weight}, '
                f'reduction={self.reduction!r}')
