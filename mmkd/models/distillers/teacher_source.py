# Copyright (c) mmkd contributors. All rights reserved.
"""Where a distillation's teacher outputs come from: one place for
DistillModel, DistillHook, ``tools/cache_teacher.py`` and the profiler."""
import copy
from typing import Any, Dict, List, Optional

import torch.nn as nn

from mmkd.registry import MODELS
from .teacher import load_teacher_checkpoint, resolve_model_cfg
from .teacher_cache import (TeacherCache, check_cache_pipeline,
                            check_cacheable_pipeline, teacher_fingerprint)

#: the key of a batch's packed teacher view (``mmkd.PackTeacherView``)
TEACHER_INPUTS = 'teacher_inputs'


def without_scope(cfg: Optional[dict]) -> Optional[dict]:
    """A model part's config without ``_scope_`` (configs inherited through
    ``mmseg::`` bases carry one), to compare two configs."""
    if cfg is None:
        return None
    return {k: v for k, v in dict(cfg).items() if k != '_scope_'}


class TeacherSource:
    """The teacher of a distillation and how its inputs and outputs are made.

    Builds the teacher in its own scope and loads ``teacher_ckpt`` strictly;
    decides whether the teacher preprocesses batches with its own data
    preprocessor (when its config has one that differs from the student's)
    and whether it reads a teacher view (``teacher_inputs`` packed by
    ``mmkd.PackTeacherView``); opens the teacher cache; and fingerprints the
    teacher's outputs for caches.

    Args:
        teacher (dict, optional): The teacher's model config or
            ``dict(cfg_path=...)``. None makes a mean teacher: a copy of
            ``student`` that ``MeanTeacherHook`` keeps up to date.
        teacher_ckpt (str, optional): Path or URL of the teacher's weights;
            required with ``teacher``.
        teacher_taps (dict): The teacher's taps (fingerprinted).
        teacher_dtype (str, optional): ``'bf16'``/``'fp16'`` (fingerprinted).
        student_preprocessor (dict, optional): The student's data
            preprocessor config, to tell whether the teacher's differs.
        student (nn.Module, optional): The student, copied for a mean
            teacher.
        teacher_cache (str, optional): A ``tools/cache_teacher.py`` folder;
            opened by :meth:`open_cache`.
        teacher_view (bool): The teacher reads the batch's
            ``teacher_inputs`` instead of the student's inputs. Defaults to
            False.
        build (bool): False builds nothing (evaluation of the student).
            Defaults to True.
    """

    def __init__(self,
                 teacher: Optional[dict],
                 teacher_ckpt: Optional[str],
                 teacher_taps: Optional[dict] = None,
                 teacher_dtype: Optional[str] = None,
                 student_preprocessor: Optional[dict] = None,
                 student: Optional[nn.Module] = None,
                 teacher_cache: Optional[str] = None,
                 teacher_view: bool = False,
                 build: bool = True) -> None:
        self.is_mean_teacher = teacher is None
        if teacher is None:
            if teacher_ckpt is not None:
                raise ValueError('teacher_ckpt is given without a teacher '
                                 'config; set `teacher`')
            if teacher_cache is not None:
                raise ValueError('teacher_cache needs a fixed teacher; a '
                                 'mean teacher (teacher=None) changes')
            self.cfg = None
        else:
            if not isinstance(teacher_ckpt, str):
                raise ValueError(
                    'teacher_ckpt is required with a teacher config (a path '
                    'or URL): a randomly initialised teacher teaches '
                    f'nothing; got {teacher_ckpt!r}')
            self.cfg = resolve_model_cfg(teacher, 'teacher')
        self.teacher_ckpt = teacher_ckpt
        self.teacher_taps = dict(teacher_taps or {})
        self.teacher_dtype = teacher_dtype
        self.cache_dir = teacher_cache
        self.view = bool(teacher_view)
        own_pp = None if self.cfg is None else self.cfg.get(
            'data_preprocessor')
        #: whether the teacher preprocesses batches with its own
        #: preprocessor (else it reads the student's preprocessed inputs,
        #: or, with a view, the view through the student's preprocessor)
        self.own_preprocessor = own_pp is not None and without_scope(
            own_pp) != without_scope(student_preprocessor)
        self.cache: Optional[TeacherCache] = None
        self.model: Optional[nn.Module] = None
        if not build:
            return
        if self.cfg is None:
            if student is None:
                raise ValueError('a mean teacher is a copy of the student; '
                                 'pass `student`')
            self.model = copy.deepcopy(student)
        else:
            self.model = MODELS.build(self.cfg)
            load_teacher_checkpoint(self.model, teacher_ckpt)

    @property
    def fingerprint(self) -> Optional[str]:
        """Identifies the teacher's outputs (config, checkpoint bytes, taps,
        dtype) for teacher caches; None for a mean teacher."""
        if self.cfg is None:
            return None
        return teacher_fingerprint(self.cfg.to_dict(), self.teacher_ckpt,
                                   self.teacher_taps, self.teacher_dtype)

    def open_cache(self, pipeline: Optional[List[dict]] = None) -> None:
        """Open ``teacher_cache``, refusing one of another teacher and,
        when ``pipeline`` (the training pipeline) is given, one built with
        another pipeline or augmentations a cache cannot key."""
        if self.cache_dir is None:
            return
        if pipeline is not None:
            check_cacheable_pipeline(pipeline)
        self.cache = TeacherCache.load(
            self.cache_dir, self.fingerprint, pipeline=pipeline)

    @property
    def runs_teacher(self) -> bool:
        """Whether the teacher runs (no cache serves its outputs)."""
        return self.cache is None

    def preprocess(self, data: dict,
                   student_preprocessor: nn.Module) -> Any:
        """The teacher's inputs for a raw batch, or None when the teacher
        reads the student's preprocessed inputs.

        Runs before the student's preprocessor, in training mode (so the
        teacher's inputs are padded and stacked as a training batch is:
        inference mode skips the padding to a fixed ``size``, and the
        teacher's features would then not line up with the student's) on
        copies of the data samples and without batch augmentations: the
        student's batch augmentations do not reach the teacher and the
        samples keep the student's meta (pad shape, batch input shape) and
        labels.

        Args:
            data (dict): The batch from the data loader.
            student_preprocessor (nn.Module): Used for a teacher view when
                the teacher has no preprocessor of its own.

        Raises:
            KeyError: A teacher view is configured but the batch has no
                ``teacher_inputs``.
        """
        if self.view:
            if TEACHER_INPUTS not in data:
                raise KeyError(
                    'teacher_view=True, but the batch has no '
                    f"{TEACHER_INPUTS!r} (keys: {', '.join(sorted(data))}): "
                    'pack the teacher view with mmkd.PackTeacherView in the '
                    'training pipeline')
            preprocessor = self.model.data_preprocessor \
                if self.own_preprocessor else student_preprocessor
            return _preprocess_apart(
                preprocessor,
                dict(inputs=data[TEACHER_INPUTS],
                     data_samples=data.get('data_samples')))
        if self.own_preprocessor:
            return _preprocess_apart(self.model.data_preprocessor,
                                     strip_teacher_view(data))
        return None

    def outputs(self, distiller, inputs: Any, data_samples: Optional[list],
                device) -> Dict[str, Any]:
        """The teacher's taps for a batch: from the cache, or by running
        the teacher on ``inputs`` until its last tap."""
        if self.cache is not None:
            return self.cache.lookup(data_samples, device)
        return distiller.teacher_forward(inputs, data_samples)


def check_teacher_cache(cache_dir: str, pipeline: List[dict]) -> None:
    """Before any model is built: refuse a training ``pipeline`` a teacher
    cache cannot key (random crops, photometric changes) or that differs
    from the one ``cache_dir`` was built with (``tools/train.py``)."""
    check_cacheable_pipeline(pipeline)
    check_cache_pipeline(cache_dir, pipeline)


def _preprocess_apart(preprocessor: nn.Module, data: dict) -> Any:
    """``preprocessor``'s training-mode inputs for ``data``, leaving the
    batch's data samples as they were and running no batch
    augmentation."""
    data = dict(data, data_samples=copy.deepcopy(data.get('data_samples')))
    augments = getattr(preprocessor, 'batch_augments', None)
    if augments is not None:
        preprocessor.batch_augments = None
    try:
        return preprocessor(data, True)['inputs']
    finally:
        if augments is not None:
            preprocessor.batch_augments = augments


def strip_teacher_view(data: dict) -> dict:
    """The batch without its packed teacher view (for the student's
    preprocessor, which may pass unknown keys on to the model)."""
    if TEACHER_INPUTS not in data:
        return data
    return {k: v for k, v in data.items() if k != TEACHER_INPUTS}
