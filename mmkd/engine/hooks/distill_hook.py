# Copyright (c) mmkd contributors. All rights reserved.
from typing import Any, Dict, Optional

import torch.distributed as dist
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import BaseOptimWrapper, OptimWrapper

from mmkd.models.distillers import (Distiller, load_teacher_checkpoint,
                                    resolve_model_cfg)
from mmkd.models.distillers.teacher_cache import (TeacherCache,
                                                  check_cacheable_pipeline,
                                                  teacher_fingerprint)
from mmkd.registry import HOOKS, MODELS


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
    """

    priority = 'VERY_HIGH'

    def __init__(self,
                 teacher: dict,
                 teacher_ckpt: str,
                 taps: dict,
                 losses: dict,
                 connectors: Optional[dict] = None,
                 teacher_dtype: Optional[str] = None,
                 teacher_cache: Optional[str] = None) -> None:
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
        self.cache: Optional[TeacherCache] = None
        self.distiller: Optional[Distiller] = None
        self._teacher_inputs: Any = None
        self._own_teacher_inputs = False
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
        """Build the teacher and the :class:`Distiller` on the runner's
        model, and load the teacher cache if one is configured."""
        model = runner.model
        student = model.module if is_model_wrapper(model) else model
        teacher = MODELS.build(self.teacher_cfg)
        load_teacher_checkpoint(teacher, self.teacher_ckpt)
        self.distiller = Distiller(student, teacher, self.taps, self.losses,
                                   self.connectors, self.teacher_dtype)
        device = next(student.parameters()).device
        self.distiller.to(device)
        if hasattr(teacher, '_set_device'):
            teacher._set_device(device)
        student_pp = runner.cfg.model.get('data_preprocessor',
                                          runner.cfg.get('data_preprocessor'))
        self._own_teacher_inputs = (
            self.teacher_cfg.get('data_preprocessor') is not None
            and self.teacher_cfg.get('data_preprocessor') != student_pp)
        if self.teacher_cache is not None:
            check_cacheable_pipeline(
                runner.cfg.train_dataloader.dataset.pipeline)
            self.cache = TeacherCache.load(
                self.teacher_cache, self.cache_fingerprint,
                pipeline=runner.cfg.train_dataloader.dataset.pipeline)
        return self.distiller

    @property
    def cache_fingerprint(self) -> str:
        """Identifies the teacher's outputs for teacher caches."""
        return teacher_fingerprint(self.teacher_cfg.to_dict(),
                                   self.teacher_ckpt,
                                   dict(self.taps).get('teacher', {}),
                                   self.teacher_dtype)

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
            if not distiller.enabled:
                return own_loss(inputs, data_samples, *args, **kwargs)
            teacher_inputs = hook._teacher_inputs
            hook._teacher_inputs = None
            if hook.cache is not None:
                teacher_feats = hook.cache.lookup(
                    data_samples,
                    next(distiller.student.parameters()).device)
            else:
                teacher_feats = distiller.teacher_forward(
                    inputs if teacher_inputs is None else teacher_inputs,
                    data_samples)
            losses, student_feats = distiller.capture_student(
                lambda: own_loss(inputs, data_samples, *args, **kwargs))
            losses.update(
                distiller.compute_distill_losses(student_feats, teacher_feats,
                                                 data_samples))
            return losses

        # an instance attribute: the class and other instances are untouched
        student.loss = loss

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch: Optional[dict] = None) -> None:
        if self._own_teacher_inputs and self.distiller.enabled and \
                self.cache is None:
            # the teacher's own preprocessing, before the student's sets its
            # meta in the shared data samples
            self._teacher_inputs = self.distiller.teacher.data_preprocessor(
                data_batch, False)['inputs']

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self.distiller is not None and len(self.distiller.connectors):
            checkpoint['distill_connectors'] = \
                self.distiller.connectors.state_dict()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # an evaluation-only run has no connectors: they serve the losses
        if self.distiller is not None and 'distill_connectors' in checkpoint:
            self.distiller.connectors.load_state_dict(
                checkpoint['distill_connectors'], strict=True)

