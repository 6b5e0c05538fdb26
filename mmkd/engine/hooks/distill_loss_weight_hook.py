# Copyright (c) mmkd contributors. All rights reserved.
import difflib
import math
from typing import Dict, Optional

from mmengine.hooks import Hook

from mmkd.registry import HOOKS
from .utils import get_distill_controls

_SCHEDULE_KEYS = {
    'linear': ('start_factor', 'begin', 'end'),
    'step': ('milestones', 'gamma'),
    'cosine': ('eta_min', 'begin', 'end'),
    'constant': ('factor', ),
}
# the keys that set a factor: a negative one would make the loss push the
# student away from the teacher
_FACTOR_KEYS = ('start_factor', 'gamma', 'eta_min', 'factor')


def schedule_factor(schedule: dict, progress: int) -> float:
    """The factor of one schedule at ``progress`` (an iteration or epoch).

    - ``linear``: warm-up from ``start_factor`` (default 0) at ``begin``
      (default 0) to 1 at ``end``; 1 afterwards.
    - ``step``: ``gamma`` (default 0.1) to the power of the number of
      ``milestones`` reached.
    - ``cosine``: decay from 1 at ``begin`` (default 0) to ``eta_min``
      (default 0) at ``end`` along half a cosine; ``eta_min`` afterwards.
    - ``constant``: ``factor`` throughout (a reference whose warm-up never
      advances, e.g. OADP's multi-label weights in its official code).
    """
    kind = schedule['type']
    if kind == 'constant':
        return schedule['factor']
    if kind == 'step':
        passed = sum(progress >= m for m in schedule['milestones'])
        return schedule.get('gamma', 0.1)**passed
    begin, end = schedule.get('begin', 0), schedule['end']
    t = min(max((progress - begin) / (end - begin), 0.0), 1.0)
    if kind == 'linear':
        start = schedule.get('start_factor', 0.0)
        return start + (1.0 - start) * t
    eta_min = schedule.get('eta_min', 0.0)
    return eta_min + (1.0 - eta_min) * (1 + math.cos(math.pi * t)) / 2


@HOOKS.register_module()
class DistillLossWeightHook(Hook):
    """Scale distill losses by per-loss schedules.

    The factor multiplies the loss's own ``loss_weight``; it is a function
    of the current iteration (or epoch) only, so a resumed run continues on
    the same curve. Each factor is logged as ``distill.scale_<name>``.

    Note:
        Loss names are the keys of the model's ``distill_loss_scales``
        (see :class:`~mmkd.models.distillers.protocol.DistillControls`):
        those of ``DistillModel.losses``, logged as ``distill.loss_<name>``,
        or a method's own (``lpld`` of ``LPLDDetector``, logged as
        ``loss_lpld``); checked when training starts. With a
        ``DistillHook``, those of its losses.

    Args:
        schedules (dict): Loss name to a schedule: ``dict(type='linear',
            start_factor=0., begin=0, end=500)``, ``dict(type='step',
            milestones=[1000], gamma=0.1)`` or ``dict(type='cosine',
            eta_min=0., begin=0, end=2000)`` or ``dict(type='constant',
            factor=0.5)``. ``start_factor``, ``gamma``, ``eta_min`` and
            ``factor`` must be >= 0.
        by_epoch (bool): Count epochs instead of iterations. Defaults to
            False.

    Examples:
        >>> custom_hooks = [dict(type='mmkd.DistillLossWeightHook',
        ...     schedules=dict(cwd_logits=dict(type='linear', end=200)))]
    """

    priority = 'NORMAL'

    def __init__(self, schedules: Dict[str, dict],
                 by_epoch: bool = False) -> None:
        if not schedules:
            raise ValueError('DistillLossWeightHook needs at least one '
                             'schedule')
        for name, schedule in schedules.items():
            kind = schedule.get('type')
            if kind not in _SCHEDULE_KEYS:
                raise ValueError(
                    f'schedule of {name!r} has type {kind!r}; expected one '
                    f'of {", ".join(_SCHEDULE_KEYS)}')
            for key in schedule:
                if key != 'type' and key not in _SCHEDULE_KEYS[kind]:
                    raise KeyError(
                        f'{kind} schedule of {name!r} has unknown key '
                        f'{key!r} (keys: {", ".join(_SCHEDULE_KEYS[kind])})')
            for key in _FACTOR_KEYS:
                if key in schedule and not schedule[key] >= 0:
                    raise ValueError(
                        f'DistillLossWeightHook: {kind} schedule of '
                        f'{name!r} has {key}={schedule[key]}; it must be '
                        '>= 0, a negative factor pushes the student away '
                        'from the teacher')
            if kind == 'step' and 'milestones' not in schedule:
                raise KeyError(f'step schedule of {name!r} needs milestones')
            if kind == 'constant' and 'factor' not in schedule:
                raise KeyError(f'constant schedule of {name!r} needs factor')
            if kind in ('linear', 'cosine'):
                if 'end' not in schedule:
                    raise KeyError(f'{kind} schedule of {name!r} needs end')
                if schedule['end'] <= schedule.get('begin', 0):
                    raise ValueError(
                        f'schedule of {name!r}: end ({schedule["end"]}) '
                        f'must be after begin ({schedule.get("begin", 0)})')
        self.schedules = schedules
        self.by_epoch = by_epoch

    def before_train(self, runner) -> None:
        scales = get_distill_controls(runner).distill_loss_scales
        for name in self.schedules:
            if name not in scales:
                close = difflib.get_close_matches(name, list(scales), n=1)
                hint = f'; did you mean {close[0]!r}?' if close else ''
                have = (f'losses: {", ".join(scales)}'
                        if scales else 'it has no distill loss')
                raise KeyError(
                    f'DistillLossWeightHook schedules loss {name!r}, which '
                    f'the model does not have{hint} ({have})')

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch: Optional[dict] = None) -> None:
        scales = get_distill_controls(runner).distill_loss_scales
        progress = runner.epoch if self.by_epoch else runner.iter
        for name, schedule in self.schedules.items():
            factor = schedule_factor(schedule, progress)
            scales[name] = factor
            runner.message_hub.update_scalar(f'train/distill.scale_{name}',
                                             factor)
