# Copyright (c) mmkd contributors. All rights reserved.
import inspect
from typing import Any, Dict, List, Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from torch import Tensor

from mmkd.registry import MODELS
from .data_preprocessor import DistillDataPreprocessor
from .distiller import Distiller, _suggest
from .teacher import resolve_model_cfg
from .teacher_cache import TeacherCache
from .teacher_source import TeacherSource, without_scope


@MODELS.register_module()
class DistillModel(BaseModel):
    """Train a student with a frozen teacher's features as extra targets.

    The student is any model of any OpenMMLab scope (mmdet, mmseg, mmdet3d).
    Taps capture student and teacher features by module path; an optional
    connector maps a student feature to the teacher's shape; each distill
    loss reads one or several student and teacher taps. ``predict`` and
    ``tensor`` modes are the student's own, so the student's evaluator tests
    it.

    The teacher is not a registered submodule: it is absent from
    ``state_dict()``, the optimizer, DDP and EMA copies, and checkpoints hold
    the student and connectors only. It is loaded strictly from
    ``teacher_ckpt``, frozen, kept in ``eval()`` mode, moved with the model
    by ``.to()``/``.cuda()``, runs under ``no_grad`` with its own data
    preprocessor, and only until its last tapped module has run.

    Args:
        student (dict): The student's model config, or
            ``dict(cfg_path='mmseg::...py')`` to take it from a config file.
        teacher (dict, optional): The teacher's model config, in the same
            forms. None makes the teacher a copy of the student kept up to
            date by :class:`MeanTeacherHook`. Defaults to None.
        teacher_ckpt (str, optional): Path or URL of the teacher's
            checkpoint; required when ``teacher`` is given.
        taps (dict): ``dict(student=dict(name=path, ...),
            teacher=dict(name=path, ...))``. A path such as
            ``'decode_head.conv_seg'`` captures that module's output;
            a dict adds ``io='input'``, ``index=`` (one element of a
            returned tuple or dict), ``method=`` and ``kwargs=`` (see
            :func:`~mmkd.models.distillers.taps.parse_tap_cfg`).
        losses (dict): Maps a loss name to a loss config holding
            ``student=`` and ``teacher=`` besides the loss's own arguments:
            a tap name, a list of names (the loss is summed over the pairs,
            or gets the lists when it declares ``takes_sequences``) or a
            dict of names (for losses that take dicts). Optional keys:
            ``connector=`` (an adapter of this loss alone, applied to its
            student value; one declaring ``takes_sequences = True`` gets
            all its taps at once), ``mask=`` and ``mask_average=`` (a
            weight map from the ground truth, see :class:`Distiller`). It
            is logged as ``distill.loss_<name>``.
        connectors (dict, optional): Maps a student tap name to a connector
            config (or a list of them, one per element of a tap that yields
            a tuple, e.g. FPN levels), applied before every loss reading
            that tap. Defaults to None.
        teacher_dtype (str, optional): ``'bf16'`` or ``'fp16'`` runs the
            teacher in reduced precision; losses stay in float32. Defaults
            to None.
        teacher_cache (str, optional): A folder written by
            ``tools/cache_teacher.py``; the teacher's taps are read from it
            instead of running the teacher. A cache built for another
            teacher config, checkpoint, taps or dtype, or an incomplete
            one, is refused when it opens; a sample whose input files or
            scale factor changed since, when it is first read
            (``tools/train.py`` also compares the training pipeline before
            the model is built). Defaults to None.
        data_preprocessor (dict, optional): Used by the student when its
            config has none (the Runner passes a config's top-level
            ``data_preprocessor`` here); otherwise it must equal the
            student's. The teacher always uses its own. Defaults to None.
        eval_only (bool): Build the model to evaluate a trained checkpoint:
            the student and the connectors are built (the checkpoint's keys
            match exactly), the teacher is neither built nor loaded (its
            checkpoint may be absent) and no teacher cache is read;
            ``loss`` raises. A mean teacher (``teacher=None``) is still the
            student's copy, which needs no file. mmkd's ``tools/test.py``
            sets it. Defaults to False.
        teacher_view (bool): The teacher reads the batch's
            ``teacher_inputs`` (another view of each sample, packed by
            ``mmkd.PackTeacherView``: a denser point cloud, camera images, a
            weakly augmented image), passed through the teacher's data
            preprocessor (or the student's when the teacher has none); a
            batch without them is refused. Defaults to False.
        teacher_mode (str): ``'tensor'``, or ``'loss'`` for teachers
            without a tensor mode (mmdet3d's CenterPoint), see
            :class:`Distiller`. Defaults to ``'tensor'``.
        init_cfg (dict, optional): Initialization config. Defaults to None.
    """

    def __init__(self,
                 student: dict,
                 teacher: Optional[dict] = None,
                 teacher_ckpt: Optional[str] = None,
                 taps: Optional[dict] = None,
                 losses: Optional[dict] = None,
                 connectors: Optional[dict] = None,
                 teacher_dtype: Optional[str] = None,
                 teacher_cache: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 eval_only: bool = False,
                 teacher_view: bool = False,
                 teacher_mode: str = 'tensor',
                 init_cfg: Optional[dict] = None,
                 **kwargs) -> None:
        if kwargs:
            valid = list(inspect.signature(DistillModel).parameters)[:-1]
            key = next(iter(kwargs))
            raise TypeError(f'DistillModel got an unknown key {key!r}'
                            f'{_suggest(key, valid)} (keys: '
                            f'{", ".join(valid)})')
        super().__init__(init_cfg=init_cfg)

        student_cfg = resolve_model_cfg(student, 'student')
        if data_preprocessor is not None:
            # the Runner passes a config's top-level data_preprocessor here
            own = student_cfg.setdefault('data_preprocessor',
                                         data_preprocessor)
            # configs inherited through `mmseg::` bases carry `_scope_`
            if without_scope(own) != without_scope(data_preprocessor):
                raise ValueError(
                    'DistillModel got a data_preprocessor that differs from '
                    "the student's; the student and the teacher use the "
                    'data_preprocessor of their own model configs. Remove '
                    'it or set student.data_preprocessor.')
        self.student = MODELS.build(student_cfg)
        self.eval_only = bool(eval_only)
        #: where the teacher's outputs come from (not an nn.Module: the
        #: teacher it holds stays out of the module tree)
        self.teacher_source = TeacherSource(
            teacher,
            teacher_ckpt,
            teacher_taps=dict(taps or {}).get('teacher', {}),
            teacher_dtype=teacher_dtype,
            student_preprocessor=student_cfg.get('data_preprocessor'),
            student=self.student,
            teacher_cache=teacher_cache,
            teacher_view=teacher_view,
            # a mean teacher is the student's copy: it needs no file
            build=not eval_only or teacher is None)
        self.distiller = Distiller(self.student, self.teacher_source.model,
                                   taps, losses, connectors, teacher_dtype,
                                   teacher_mode)
        self.distiller.teacher_synced = teacher is not None
        self.teacher_ckpt = teacher_ckpt
        if not eval_only:
            self.teacher_source.open_cache()
        self.data_preprocessor = DistillDataPreprocessor(
            self.student.data_preprocessor,
            None if eval_only else self.teacher_source)
        object.__setattr__(self.data_preprocessor, 'distiller',
                           self.distiller)

    @property
    def cache_fingerprint(self) -> Optional[str]:
        """Identifies the teacher's outputs (config, checkpoint bytes, taps,
        dtype) for teacher caches; None for a mean teacher."""
        return self.teacher_source.fingerprint

    @property
    def teacher_cache(self) -> Optional[TeacherCache]:
        """The opened teacher cache, or None (the teacher then runs)."""
        return self.teacher_source.cache

    @teacher_cache.setter
    def teacher_cache(self, cache: Optional[TeacherCache]) -> None:
        self.teacher_source.cache = cache

    # the engine's state, kept in the distiller
    @property
    def teacher(self) -> Optional[nn.Module]:
        """The frozen teacher (not a registered submodule); None with
        ``eval_only``."""
        return self.distiller.teacher

    @property
    def teacher_synced(self) -> bool:
        """False while a mean teacher does not hold the student's weights;
        set by :class:`MeanTeacherHook`."""
        return self.distiller.teacher_synced

    @teacher_synced.setter
    def teacher_synced(self, synced: bool) -> None:
        self.distiller.teacher_synced = synced

    @property
    def distill_loss_scales(self) -> Dict[str, float]:
        """Multiplier of each distill loss, set by DistillLossWeightHook."""
        return self.distiller.loss_scales

    @property
    def student_taps(self):
        return self.distiller.student_taps

    @property
    def teacher_taps(self):
        return self.distiller.teacher_taps

    @property
    def connectors(self) -> nn.ModuleDict:
        return self.distiller.connectors

    @property
    def distill_enabled(self) -> bool:
        """Whether ``loss`` runs the teacher and the distill losses;
        switched off by :class:`StopDistillHook`."""
        return self.distiller.enabled

    @distill_enabled.setter
    def distill_enabled(self, enabled: bool) -> None:
        self.distiller.enabled = bool(enabled)

    # ------------------------------------------------------------------
    # mmengine's preprocessors track their device outside ``_apply``
    def _set_device(self, device: torch.device) -> None:
        super()._set_device(device)
        if self.teacher is not None:
            self.teacher._set_device(device)

    # ------------------------------------------------------------------
    # forward
    def forward(self,
                inputs: Any,
                data_samples: Optional[List[BaseDataElement]] = None,
                mode: str = 'tensor',
                teacher_inputs: Any = None) -> Any:
        """``loss`` distils; ``predict`` and ``tensor`` run the student.

        Args:
            inputs: The student's preprocessed inputs.
            data_samples (list, optional): Ground truth and meta.
            mode (str): ``'loss'``, ``'predict'`` or ``'tensor'``.
            teacher_inputs: The teacher's inputs when its preprocessor
                differs from the student's; None to use ``inputs``.
        """
        if mode == 'loss':
            return self.loss(inputs, data_samples, teacher_inputs)
        return self.student(inputs, data_samples, mode=mode)

    def loss(self,
             inputs: Any,
             data_samples: Optional[List[BaseDataElement]] = None,
             teacher_inputs: Any = None) -> Dict[str, Tensor]:
        """Student losses plus ``distill.loss_<name>`` for each loss."""
        if self.eval_only:
            raise RuntimeError(
                'DistillModel was built with eval_only=True (as mmkd\'s '
                'tools/test.py does): it has no teacher and cannot compute '
                'losses; build it without eval_only to train')
        device = next(self.student.parameters()).device
        return self.distiller.step(
            lambda: self.student(inputs, data_samples, mode='loss'),
            lambda: self.teacher_source.outputs(
                self.distiller,
                inputs if teacher_inputs is None else teacher_inputs,
                data_samples, device), data_samples)

    def predict(self, inputs: Any,
                data_samples: Optional[list] = None) -> list:
        """The student's predictions."""
        return self.student(inputs, data_samples, mode='predict')
