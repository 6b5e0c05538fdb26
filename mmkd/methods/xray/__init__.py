# Copyright (c) mmkd contributors. All rights reserved.
"""X-Ray distillation (Gambashidze et al., "Weak-to-Strong 3D Object
Detection with X-Ray Distillation", CVPR 2024): a teacher trained on
Object-Complete LiDAR frames (each object's points gathered over its
track), distilled into a student that sees the normal frames.

The frame generator (``object_complete``, ``checks``) reads SimScenes'
infos helpers, whose package compiles ray casting with numba: it is
imported on first use, so that registering the transform and the hook
(``import mmkd.methods``) stays light.
"""
from importlib import import_module

from .detection_term import XRayDistillModel, append_teacher_boxes
from .hooks import XRayInfosCheckHook
from .transforms import TEACHER_PATH_KEY, LoadTeacherPoints

_LAZY = dict(
    check_infos='checks',
    check_track_fields='object_complete',
    complete_scene='object_complete',
    make_object_complete='object_complete')

__all__ = [
    'LoadTeacherPoints', 'TEACHER_PATH_KEY', 'XRayDistillModel',
    'XRayInfosCheckHook', 'append_teacher_boxes',
    'check_infos', 'check_track_fields', 'complete_scene',
    'make_object_complete'
]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f'{__name__}.{_LAZY[name]}'), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
