# Copyright (c) mmkd contributors. All rights reserved.
from typing import Optional

import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmkd.registry import HOOKS


def drop_registered_teacher(checkpoint: dict, model: nn.Module) -> None:
    """Fit a checkpoint written while ``model.teacher`` was a registered
    submodule (LPLDDetector before it followed the engine's teacher rules)
    to the model, whose teacher is not.

    Its teacher weights (``teacher.*`` in ``state_dict``) are the model's
    to load (see ``LPLDDetector``); the teacher's parameters, which never
    had gradients, are dropped from the saved optimizer's parameter groups
    (groups left empty go), so the student's optimizer state resumes.

    Args:
        checkpoint (dict): The loaded checkpoint, changed in place.
        model (nn.Module): The (unwrapped) model being resumed.

    Raises:
        ValueError: When the saved optimizer does not hold one entry per
            parameter of the state dict, so that its entries cannot be
            named.
    """
    state = checkpoint.get('state_dict', {})
    optim = checkpoint.get('optimizer')
    if ('teacher' in model._modules or not isinstance(optim, dict)
            or 'param_groups' not in optim
            or not any(k.startswith('teacher.') for k in state)):
        return
    # parameters come in state_dict order, the optimizer's order
    params = {n for n, _ in model.named_parameters()}
    params.update('teacher.' + n for n, _ in model.teacher.named_parameters())
    names = [k for k in state if k in params]
    ids = [i for group in optim['param_groups'] for i in group['params']]
    if len(ids) != len(names):
        raise ValueError(
            f'the checkpoint holds the teacher under `teacher.` and an '
            f'optimizer of {len(ids)} parameters, but its state dict has '
            f'{len(names)} parameters: cannot tell which optimizer entries '
            'are the teacher\'s; resume with load_from and resume=False')
    teacher_ids = {i for i, n in zip(ids, names) if n.startswith('teacher.')}
    groups = []
    for group in optim['param_groups']:
        kept = [i for i in group['params'] if i not in teacher_ids]
        if kept:
            groups.append(dict(group, params=kept))
    optim['param_groups'] = groups
    optim['state'] = {
        i: v
        for i, v in optim.get('state', {}).items() if i not in teacher_ids
    }


@HOOKS.register_module()
class MeanTeacherHook(Hook):
    """Keep the teacher an exponential moving average of the student.

    ``teacher = (1 - momentum) * teacher + momentum * student`` for every
    parameter and floating-point buffer, every ``interval`` iterations (or
    epochs). At the start of a fresh run the teacher is set to the student;
    its weights are saved in checkpoints under ``mean_teacher`` (the one copy:
    the teacher is no registered submodule) and restored whenever the Runner
    loads a checkpoint (resume or ``load_from``). The teacher stays outside
    the optimizer and DDP.

    Note:
        Use with :class:`DistillModel` (``teacher=None`` makes the teacher a
        copy of the student), ``LPLDDetector``, or any model with
        ``student`` and ``teacher`` of the same architecture.

    Args:
        momentum (float, optional): Weight of the student in each update,
            in (0, 1). Defaults to 0.001 when ``keep_rate`` is not given.
        keep_rate (float, optional): ``1 - momentum``, the name used by
            self-training papers (e.g. 0.9996). Give at most one of the two.
        interval (int): Update every ``interval`` iterations, or epochs with
            ``by_epoch``. Defaults to 1.
        by_epoch (bool): Update after epochs instead of iterations.
            Defaults to False.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self,
                 momentum: Optional[float] = None,
                 keep_rate: Optional[float] = None,
                 interval: int = 1,
                 by_epoch: bool = False) -> None:
        if momentum is not None and keep_rate is not None:
            raise ValueError('give momentum or keep_rate, not both '
                             f'(momentum={momentum}, keep_rate={keep_rate})')
        if keep_rate is not None:
            momentum = 1.0 - keep_rate
        elif momentum is None:
            momentum = 0.001
        if not 0.0 < momentum < 1.0:
            raise ValueError('momentum must be in (0, 1) (keep_rate in (0, '
                             f'1)), got momentum={momentum}')
        if not isinstance(interval, int) or interval < 1:
            raise ValueError(f'interval must be a positive int, got '
                             f'{interval!r}')
        self.momentum = momentum
        self.interval = interval
        self.by_epoch = by_epoch
        self._restored = False

    def before_train(self, runner) -> None:
        model = self._model(runner)
        for attr in ('student', 'teacher'):
            if not hasattr(model, attr):
                raise AttributeError(
                    f'MeanTeacherHook needs a model with `{attr}`; '
                    f'{type(model).__name__} has none')
        s_names = [n for n, _ in model.student.named_parameters()]
        t_names = [n for n, _ in model.teacher.named_parameters()]
        if s_names != t_names:
            diff = sorted(set(s_names) ^ set(t_names))[:5]
            raise ValueError('MeanTeacherHook needs a teacher of the '
                             'student\'s architecture; parameters differ: '
                             f'{diff}')
        if not self._restored:
            self.momentum_update(model, 1.0)
        model.teacher_synced = True

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        if not self.by_epoch and self.every_n_train_iters(
                runner, self.interval):
            self.momentum_update(self._model(runner), self.momentum)

    def after_train_epoch(self, runner) -> None:
        if self.by_epoch and self.every_n_epochs(runner, self.interval):
            self.momentum_update(self._model(runner), self.momentum)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['mean_teacher'] = self._model(runner).teacher.state_dict()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        model = self._model(runner)
        drop_registered_teacher(checkpoint, model)
        if 'mean_teacher' in checkpoint:
            model.teacher.load_state_dict(
                checkpoint['mean_teacher'], strict=True)
            self._restored = True

    @torch.no_grad()
    def momentum_update(self, model, momentum: float) -> None:
        """``teacher = (1 - momentum) * teacher + momentum * student``."""
        student = model.student.state_dict()
        for name, dst in model.teacher.state_dict().items():
            src = student[name]
            if dst.dtype.is_floating_point:
                dst.mul_(1.0 - momentum).add_(src.to(dst.dtype),
                                              alpha=momentum)
            else:
                dst.copy_(src)

    @staticmethod
    def _model(runner):
        model = runner.model
        return model.module if is_model_wrapper(model) else model
