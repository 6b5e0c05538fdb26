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
    """Base class of the mmkd distillation losses, and their contract with
    the :class:`~mmkd.models.distillers.Distiller`.

    A loss is called as ``loss(pred, target, **kwargs)``: ``pred`` comes
    from the student (after its connectors), ``target`` from the teacher
    and is detached inside the loss. The element-wise losses take
    ``weight=None, avg_factor=None, reduction_override=None`` and reduce
    with :func:`mmdet.models.losses.utils.weight_reduce_loss`.

    What a loss may declare (class attributes or methods), read by the
    Distiller:

    - ``requires_same_shape`` (bool, default True): ``pred`` and
      ``target`` must have identical shapes; checked before every call,
      and a mismatch suggests a connector.
    - ``takes_sequences`` (bool, default False): a tap yielding a list or
      tuple (FPN levels, stages), or a loss reading several taps, is given
      to the loss whole; without it the loss is called once per pair of
      elements and the terms are summed.
    - ``forward(..., data_samples=None)``: the batch's data samples are
      passed (ground truth, meta) when ``forward`` names that argument.
    - ``forward(..., weight=None, avg_factor=None)``: required for a
      ``mask=`` in the loss config (a weight map built from the ground
      truth, ``(B, 1, H, W)``).
    - ``check_models(name, student, teacher, student_tap, teacher_tap,
      connector)``: called once when the Distiller is built, with the
      models and the tap configs, to refuse what the loss cannot work with
      (grids, channels) before training.

    ``loss_weight`` must be >= 0 (checked here; a negative weight would push
    the student away from the teacher).

    Args:
        loss_weight (float): Factor multiplied with the loss, >= 0.
            Defaults to 1.0.
        reduction (str): How the element-wise loss is reduced, one of
            ``'none'``, ``'mean'`` and ``'sum'``. Defaults to ``'mean'``.
    """

    requires_same_shape: bool = True
    takes_sequences: bool = False

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
