# Copyright (c) mmkd contributors. All rights reserved.
from .distill_loss_weight_hook import DistillLossWeightHook, schedule_factor
from .mean_teacher_hook import MeanTeacherHook
from .stop_distill_hook import StopDistillHook

__all__ = [
    'DistillLossWeightHook', 'MeanTeacherHook', 'StopDistillHook',
    'schedule_factor'
]
