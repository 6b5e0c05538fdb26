# Copyright (c) mmkd contributors. All rights reserved.
from mmengine.model import is_model_wrapper

from mmkd.models.distillers import Distiller


def get_distiller(runner) -> Distiller:
    """The :class:`Distiller` of a run: the model's own (DistillModel) or
    the one a ``DistillHook`` attached to the project's model."""
    model = runner.model
    model = model.module if is_model_wrapper(model) else model
    distiller = getattr(model, 'distiller', None)
    if isinstance(distiller, Distiller):
        return distiller
    for hook in runner.hooks:
        if isinstance(getattr(hook, 'distiller', None), Distiller):
            return hook.distiller
    raise RuntimeError(
        f'no distillation in this run: the model ({type(model).__name__}) '
        'is not an mmkd.DistillModel and no mmkd.DistillHook is registered '
        '(a DistillHook must come before the hooks that use it)')
