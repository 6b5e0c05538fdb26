# Copyright (c) mmkd contributors. All rights reserved.
from mmengine.model import is_model_wrapper

from mmkd.models.distillers import Distiller
from mmkd.models.distillers.protocol import (DistillControls,
                                             DistillerControls,
                                             has_distill_controls)


def _unwrap(model):
    return model.module if is_model_wrapper(model) else model


def _hook_distiller(runner):
    for hook in runner.hooks:
        if isinstance(getattr(hook, 'distiller', None), Distiller):
            return hook.distiller
    return None


def _no_distillation(model) -> RuntimeError:
    return RuntimeError(
        f'no distillation in this run: the model ({type(model).__name__}) '
        'exposes no distill_loss_scales / distill_enabled (see '
        'mmkd.models.distillers.protocol.DistillControls; mmkd.DistillModel '
        'and mmkd.LPLDDetector do) and no mmkd.DistillHook is registered '
        '(a DistillHook must come before the hooks that use it)')


def get_distill_controls(runner) -> DistillControls:
    """The :class:`DistillControls` of a run: the model itself when it
    exposes them (DDP unwrapped), else those of the :class:`Distiller` a
    ``DistillHook`` attached to the project's model.

    Raises:
        RuntimeError: When there is neither.
    """
    model = _unwrap(runner.model)
    if has_distill_controls(model):
        return model
    distiller = _hook_distiller(runner)
    if distiller is not None:
        return DistillerControls(distiller)
    raise _no_distillation(model)


def get_distiller(runner) -> Distiller:
    """The :class:`Distiller` of a run: the model's own (DistillModel) or
    the one a ``DistillHook`` attached to the project's model."""
    model = _unwrap(runner.model)
    distiller = getattr(model, 'distiller', None)
    if isinstance(distiller, Distiller):
        return distiller
    distiller = _hook_distiller(runner)
    if distiller is not None:
        return distiller
    raise _no_distillation(model)
