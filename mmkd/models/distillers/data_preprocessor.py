# Copyright (c) mmkd contributors. All rights reserved.
from typing import Optional

import torch.nn as nn

from .teacher_source import TeacherSource, strip_teacher_view


class DistillDataPreprocessor(nn.Module):
    """Preprocess a batch for the student, and for the teacher when it needs
    inputs of its own.

    A teacher trained with another mean/std, pad divisor or voxel size gets
    its own preprocessing, and a teacher view (``teacher_inputs`` packed by
    ``mmkd.PackTeacherView``) is preprocessed for the teacher; both by
    :meth:`TeacherSource.preprocess`, before the student's preprocessor, so
    the student's batch augmentations do not reach the teacher. Otherwise
    the teacher reuses the student's tensors.

    Args:
        student (nn.Module): The student's data preprocessor.
        teacher_source (TeacherSource, optional): The teacher's; None when
            no teacher runs (evaluation only).
    """

    def __init__(self, student: nn.Module,
                 teacher_source: Optional[TeacherSource] = None) -> None:
        super().__init__()
        self.student = student
        # kept out of the module tree like the teacher it holds
        object.__setattr__(self, 'teacher_source', teacher_source)
        #: the distiller whose ``enabled`` flag decides if the teacher runs
        object.__setattr__(self, 'distiller', None)

    def forward(self, data: dict, training: bool = False) -> dict:
        """Return the student's ``inputs``/``data_samples``; when training
        a teacher with inputs of its own, also ``teacher_inputs``."""
        source = self.teacher_source
        teacher_inputs = None
        if training and source is not None and source.runs_teacher and (
                self.distiller is None or self.distiller.enabled):
            teacher_inputs = source.preprocess(data, self.student)
        data = self.student(strip_teacher_view(data), training)
        if teacher_inputs is not None:
            data['teacher_inputs'] = teacher_inputs
        return data
