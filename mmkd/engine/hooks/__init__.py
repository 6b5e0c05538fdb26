# Copyright (c) mmkd contributors. All rights reserved.
from .default_hooks import TEST_HOOKS, TRAIN_HOOKS, add_default_hooks
from .distill_hook import DistillHook
from .distill_loss_weight_hook import DistillLossWeightHook, schedule_factor
from .flush_denormal_hook import FlushDenormalHook
from .mean_teacher_hook import MeanTeacherHook
from .random_states_hook import RandomStatesHook
from .resume_check_hook import ResumeCheckHook
from .stop_distill_hook import StopDistillHook
from .utils import get_distill_controls, get_distiller

__all__ = [
    'DistillHook', 'DistillLossWeightHook', 'FlushDenormalHook',
    'MeanTeacherHook', 'RandomStatesHook', 'ResumeCheckHook',
    'StopDistillHook', 'TEST_HOOKS', 'TRAIN_HOOKS', 'add_default_hooks',
    'get_distill_controls', 'get_distiller', 'schedule_factor'
]
