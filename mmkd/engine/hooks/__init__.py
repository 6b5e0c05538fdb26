# Copyright (c) mmkd contributors. All rights reserved.
from .distill_hook import DistillHook
from .distill_loss_weight_hook import DistillLossWeightHook, schedule_factor
from .mean_teacher_hook import MeanTeacherHook
from .random_states_hook import RandomStatesHook
from .resume_check_hook import ResumeCheckHook
from .stop_distill_hook import StopDistillHook
from .utils import get_distill_controls, get_distiller

__all__ = [
    'DistillHook', 'DistillLossWeightHook', 'MeanTeacherHook',
    'RandomStatesHook', 'ResumeCheckHook', 'StopDistillHook',
    'get_distill_controls', 'get_distiller', 'schedule_factor'
]
