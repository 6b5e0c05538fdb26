# Copyright (c) mmkd contributors. All rights reserved.
"""X-Ray distillation (Gambashidze et al., "Weak-to-Strong 3D Object
Detection with X-Ray Distillation", CVPR 2024): a teacher trained on
Object-Complete LiDAR frames (each object's points gathered over its
track), distilled into a student that sees the normal frames."""
from .checks import check_infos
from .object_complete import (TEACHER_PATH_KEY, check_track_fields,
                              complete_scene, make_object_complete)

__all__ = [
    'TEACHER_PATH_KEY', 'check_infos', 'check_track_fields',
    'complete_scene', 'make_object_complete'
]
