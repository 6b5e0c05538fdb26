# Copyright (c) mmkd contributors. All rights reserved.
"""The run-time controls of distillation that the engine's hooks use.

:class:`DistillLossWeightHook`, :class:`StopDistillHook` and
``tools/analysis_tools/distill_profile.py`` drive any model that exposes
:class:`DistillControls`, not only :class:`DistillModel`: a method with a
model of its own (e.g. ``LPLDDetector``) implements the two attributes and
gets loss schedules and a stop switch for free.
"""
from typing import Any, Dict, Protocol, runtime_checkable

from .distiller import Distiller


@runtime_checkable
class DistillControls(Protocol):
    """A model whose distillation can be scaled and switched off.

    Attributes:
        distill_loss_scales (dict): Loss name to a float multiplier of that
            distill term, 1.0 each when built; mutated in place by
            :class:`DistillLossWeightHook`. A name is the logged loss key
            without its ``loss_`` prefix (``distill.loss_<name>`` of
            :class:`DistillModel`, ``loss_<name>`` of a method that logs its
            own keys). Empty when the model has no distill term.
        distill_enabled (bool): Settable; False makes the model train as
            it would without distillation (no teacher run where the teacher
            only serves the distill terms, no distill term), from the next
            step on. Set by :class:`StopDistillHook`.
    """

    distill_loss_scales: Dict[str, float]
    distill_enabled: bool


def has_distill_controls(model: Any) -> bool:
    """Whether ``model`` exposes :class:`DistillControls` (a dict of scales
    and a bool switch)."""
    return (isinstance(getattr(model, 'distill_loss_scales', None), dict)
            and isinstance(getattr(model, 'distill_enabled', None), bool))


class DistillerControls:
    """:class:`DistillControls` of a bare :class:`Distiller`, the one a
    ``DistillHook`` attaches to a project's model.

    Args:
        distiller (Distiller): The distiller to control.
    """

    def __init__(self, distiller: Distiller) -> None:
        self.distiller = distiller

    @property
    def distill_loss_scales(self) -> Dict[str, float]:
        return self.distiller.loss_scales

    @property
    def distill_enabled(self) -> bool:
        return self.distiller.enabled

    @distill_enabled.setter
    def distill_enabled(self, enabled: bool) -> None:
        self.distiller.enabled = bool(enabled)
