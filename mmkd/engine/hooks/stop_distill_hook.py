# Copyright (c) mmkd contributors. All rights reserved.
from typing import Optional

from mmengine.hooks import Hook

from mmkd.registry import HOOKS
from .utils import get_distill_controls


@HOOKS.register_module()
class StopDistillHook(Hook):
    """Switch distillation off from an iteration or epoch on.

    From then on the model trains the student alone: the teacher does not
    run and no distill loss is computed (a model of its own decides what
    that means through its ``distill_enabled``, see
    :class:`~mmkd.models.distillers.protocol.DistillControls`; e.g.
    ``LPLDDetector`` keeps its teacher for pseudo labels). The switch depends
    on the current iteration/epoch only, so resuming past it keeps it off.

    Args:
        stop_iter (int, optional): First iteration without distillation.
        stop_epoch (int, optional): First epoch without distillation.
            Exactly one of the two is given.
    """

    priority = 'NORMAL'

    def __init__(self,
                 stop_iter: Optional[int] = None,
                 stop_epoch: Optional[int] = None) -> None:
        if (stop_iter is None) == (stop_epoch is None):
            raise ValueError('StopDistillHook takes exactly one of stop_iter '
                             f'and stop_epoch, got stop_iter={stop_iter}, '
                             f'stop_epoch={stop_epoch}')
        stop = stop_iter if stop_epoch is None else stop_epoch
        if not isinstance(stop, int) or stop < 0:
            raise ValueError(f'stop must be a non-negative int, got {stop!r}')
        self.stop_iter = stop_iter
        self.stop_epoch = stop_epoch

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch: Optional[dict] = None) -> None:
        if self.stop_iter is not None:
            progress, stop = runner.iter, self.stop_iter
        else:
            progress, stop = runner.epoch, self.stop_epoch
        get_distill_controls(runner).distill_enabled = progress < stop
