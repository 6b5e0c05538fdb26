# Copyright (c) mmkd contributors. All rights reserved.
from typing import Optional

import torch.nn as nn


class DistillDataPreprocessor(nn.Module):
    """Preprocess a batch once for the student and once for the teacher.

    A teacher trained with another mean/std, pad divisor or voxel size gets
    its own inputs. Its preprocessor runs first, in inference mode, so the
    student's batch augmentations do not reach the teacher and the student's
    meta (pad shape, batch input shape) is the one left in the shared data
    samples. When both preprocessors are configured alike the teacher reuses
    the student's tensors.

    The teacher's preprocessor is the teacher's own submodule, kept out of
    this module tree like the teacher (which moves it between devices).

    Args:
        student (nn.Module): The student's data preprocessor.
        teacher (nn.Module, optional): The teacher's data preprocessor, or
            None to reuse the student's outputs.
    """

    def __init__(self, student: nn.Module,
                 teacher: Optional[nn.Module]) -> None:
        super().__init__()
        self.student = student
        object.__setattr__(self, 'teacher', teacher)
        #: the distiller whose ``enabled`` flag decides if the teacher runs
        object.__setattr__(self, 'distiller', None)

    def forward(self, data: dict, training: bool = False) -> dict:
        """Return the student's ``inputs``/``data_samples``; when training
        with a separately preprocessed teacher, also ``teacher_inputs``."""
        teacher_data = None
        if training and self.teacher is not None and (
                self.distiller is None or self.distiller.enabled):
            teacher_data = self.teacher(data, False)
        data = self.student(data, training)
        if teacher_data is not None:
            data['teacher_inputs'] = teacher_data['inputs']
        return data
