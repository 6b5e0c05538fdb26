# Copyright (c) mmkd contributors. All rights reserved.
from typing import Any, Dict, Optional

import torch.distributed as dist
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import BaseOptimWrapper, OptimWrapper

from mmkd.models.distillers import Distiller, resolve_model_cfg
from mmkd.models.distillers.teacher_cache import TeacherCache
from mmkd.models.distillers.teacher_source import (TEACHER_INPUTS,
                                                   TeacherSource)
from mmkd.registry import HOOKS


@HOOKS.register_module()
class DistillHook(Hook):
    """Distil a teacher into the model of an unmodified OpenMMLab project.

    Add ``custom_imports = dict(imports=['mmkd'])`` and this hook to an
    mmdet/mmseg/mmdet3d config; the project's own ``tools/train.py`` (i.e.
    ``Runner.from_cfg``) then trains with distillation. Taps, connectors and
    losses are configured exactly as for :class:`DistillModel` and run by the
    same :class:`Distiller`.

    MMEngine builds the model, wraps it in DDP and builds the optimizer
    before any hook runs, so in ``before_run`` of a training run this hook:

    - builds and strictly loads the teacher (frozen, never DDP-wrapped);
    - adds the connectors' parameters to the optimizer as a new parameter
      group with the first group's hyper-parameters and schedule, and,
      under DDP, averages their gradients across ranks as DDP does for the
      model's;
    - makes the model's ``loss`` return its own losses plus
      ``distill.loss_<name>`` terms, so they are logged and back-propagated
      by ``parse_losses`` like the model's own.

    Connector weights are saved in checkpoints under ``distill_connectors``
    and restored on resume.

    In a run that only evaluates (``runner.val()`` / ``runner.test()``, e.g.
    the project's ``tools/test.py``) the hook does nothing: the teacher is
    neither built nor loaded, so its checkpoint may be absent, and the
    model is evaluated as the project's own. The set-up happens in
    ``before_run`` rather than ``before_train`` because ``Runner.train``
    resumes (the optimizer's state, which includes the connectors' group,
    and ``after_load_checkpoint``) between the two.

    Args:
        teacher (dict): The teacher's model config or
            ``dict(cfg_path='mmseg::...py')``.
        teacher_ckpt (str): Path or URL of the teacher's checkpoint.
        taps (dict): ``dict(student=dict(name=path), teacher=...)``; student
            paths are relative to the project's model.
        losses (dict): Loss name to a loss config with ``student=`` and
            ``teacher=`` tap names.
        connectors (dict, optional): Student tap name to a connector config.
            Defaults to None.
        teacher_dtype (str, optional): ``'bf16'`` or ``'fp16'`` runs the
            teacher in reduced precision. Defaults to None.
        teacher_cache (str, optional): A folder written by
            ``tools/cache_teacher.py``: the teacher's taps are read from it
            and the teacher does not run. Defaults to None.
        teacher_view (bool): The teacher reads the batch's
            ``teacher_inputs`` (``mmkd.PackTeacherView``) instead of the
            model's inputs. Defaults to False.
        teacher_mode (str): ``'tensor'``, or ``'loss'`` for teachers
            without a tensor mode (mmdet3d's CenterPoint), see
            :class:`~mmkd.models.distillers.Distiller`. Defaults to
            ``'tensor'``.
    """

    priority = 'VERY_HIGH'

    def __init__(self,
                 teacher: dict,
                 teacher_ckpt: str,
                 taps: dict,
                 losses: dict,
                 connectors: Optional[dict] = None,
                 teacher_dtype: Optional[str] = None,
                 teacher_cache: Optional[str] = None,
                 teacher_view: bool = False,
                 teacher_mode: str = 'tensor') -> None:
        if not isinstance(teacher_ckpt, str):
            raise TypeError('DistillHook needs teacher_ckpt (a path or URL), '
                            f'got {teacher_ckpt!r}')
        self.teacher_cfg = resolve_model_cfg(teacher, 'teacher')
        self.teacher_ckpt = teacher_ckpt
        self.taps = taps
        self.losses = losses
        self.connectors = connectors
        self.teacher_dtype = teacher_dtype
        self.teacher_cache = teacher_cache
        self.teacher_view = teacher_view
        self.teacher_mode = teacher_mode
        self.teacher_source: Optional[TeacherSource] = None
        self.distiller: Optional[Distiller] = None
        self._teacher_inputs: Any = None
        self._attached = False

    # ------------------------------------------------------------------
    def before_run(self, runner) -> None:
        # Runner.train builds the optimizer before `before_run`; val and
        # test leave its config unbuilt and need no teacher. A runner that
        # trains and then tests calls `before_run` twice: attach once.
        if self._attached or not isinstance(runner.optim_wrapper,
                                            BaseOptimWrapper):
            return
        self.build_distiller(runner)
        self._add_connectors(runner)
        self._patch_loss(self.distiller.student)
        self._attached = True

    def build_distiller(self, runner) -> Distiller:
        """Build the teacher (:class:`TeacherSource`) and the
        :class:`Distiller` on the runner's model, and open the teacher
        cache if one is configured."""
        model = runner.model
        student = model.module if is_model_wrapper(model) else model
        student_pp = runner.cfg.model.get('data_preprocessor',
                                          runner.cfg.get('data_preprocessor'))
        self.teacher_source = TeacherSource(
            self.teacher_cfg,
            self.teacher_ckpt,
            teacher_taps=dict(self.taps).get('teacher', {}),
            teacher_dtype=self.teacher_dtype,
            student_preprocessor=student_pp,
            teacher_cache=self.teacher_cache,
            teacher_view=self.teacher_view)
        teacher = self.teacher_source.model
        self.distiller = Distiller(student, teacher, self.taps, self.losses,
                                   self.connectors, self.teacher_dtype,
                                   self.teacher_mode)
        device = next(student.parameters()).device
        self.distiller.to(device)
        if hasattr(teacher, '_set_device'):
            teacher._set_device(device)
        if self.teacher_cache is not None:
            self.teacher_source.open_cache(
                runner.cfg.train_dataloader.dataset.pipeline)
        return self.distiller

    @property
    def cache(self) -> Optional[TeacherCache]:
        """The opened teacher cache, or None."""
        return None if self.teacher_source is None else \
            self.teacher_source.cache

    @property
    def cache_fingerprint(self) -> str:
        """Identifies the teacher's outputs for teacher caches."""
        if self.teacher_source is not None:
            return self.teacher_source.fingerprint
        return TeacherSource(
            self.teacher_cfg, self.teacher_ckpt,
            dict(self.taps).get('teacher', {}), self.teacher_dtype,
            build=False).fingerprint

    def _add_connectors(self, runner):
        params = list(self.distiller.connectors.parameters())
        if not params:
            return
        optim_wrapper = runner.optim_wrapper
        if not isinstance(optim_wrapper, OptimWrapper):
            raise TypeError('DistillHook supports a single OptimWrapper, got '
                            f'{type(optim_wrapper).__name__}')
        optimizer = optim_wrapper.optimizer
        first = optimizer.param_groups[0]
        optimizer.add_param_group(dict(params=params))
        group = optimizer.param_groups[-1]
        # the connectors follow the first group's schedule: schedulers were
        # built with one base value per group, so extend them
        schedulers = runner.param_schedulers or []
        if isinstance(schedulers, dict):
            raise TypeError('DistillHook supports a list of param schedulers')
        for scheduler in schedulers:
            name = scheduler.param_name
            group[name] = first[name]
            group[f'initial_{name}'] = first[f'initial_{name}']
            scheduler.base_values.append(first[f'initial_{name}'])
            if hasattr(scheduler, '_last_value'):
                scheduler._last_value.append(first[name])
        if dist.is_available() and dist.is_initialized():
            world_size = dist.get_world_size()

            def all_reduce_grad(param):
                # the connectors are outside the model's DDP: average their
                # gradients across ranks as DDP does
                dist.all_reduce(param.grad)
                param.grad.div_(world_size)

            for param in params:
                param.register_post_accumulate_grad_hook(all_reduce_grad)

    def _patch_loss(self, student) -> None:
        distiller = self.distiller
        own_loss = student.loss
        hook = self

        def loss(inputs, data_samples, *args, **kwargs) -> Dict:
            teacher_inputs = hook._teacher_inputs
            hook._teacher_inputs = None
            return distiller.step(
                lambda: own_loss(inputs, data_samples, *args, **kwargs),
                lambda: hook.teacher_source.outputs(
                    distiller,
                    inputs if teacher_inputs is None else teacher_inputs,
                    data_samples,
                    next(distiller.student.parameters()).device),
                data_samples)

        # an instance attribute: the class and other instances are untouched
        student.loss = loss

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch: Optional[dict] = None) -> None:
        if not self._attached:
            return
        source = self.teacher_source
        if self.distiller.enabled and source.runs_teacher:
            # before the model's own preprocessing sets the student's meta
            # in the shared data samples
            model = runner.model.module if is_model_wrapper(
                runner.model) else runner.model
            self._teacher_inputs = source.preprocess(
                data_batch, model.data_preprocessor)
        # the project's preprocessor must not pass the view on to the model
        data_batch.pop(TEACHER_INPUTS, None)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self.distiller is not None and len(self.distiller.connectors):
            checkpoint['distill_connectors'] = \
                self.distiller.connectors.state_dict()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # an evaluation-only run has no connectors: they serve the losses
        if self.distiller is not None and 'distill_connectors' in checkpoint:
            self.distiller.connectors.load_state_dict(
                checkpoint['distill_connectors'], strict=True)

