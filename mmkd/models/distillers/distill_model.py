# Copyright (c) mmkd contributors. All rights reserved.
import copy
import difflib
import inspect
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from torch import Tensor

from mmkd.registry import MODELS
from .data_preprocessor import DistillDataPreprocessor
from .taps import FeatureTaps, TapsComplete
from .teacher import load_teacher_checkpoint, resolve_model_cfg

_SIDES = ('student', 'teacher')


def _suggest(key: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, list(options), n=1)
    return f'; did you mean {close[0]!r}?' if close else ''


def _build_mmkd(cfg: dict) -> nn.Module:
    """Build in the mmkd scope: plain names are mmkd's, others prefixed."""
    cfg = dict(cfg)
    cfg.setdefault('_scope_', 'mmkd')
    return MODELS.build(cfg)


def _shape(x: Any) -> Any:
    if isinstance(x, Tensor):
        return tuple(x.shape)
    if isinstance(x, (list, tuple)):
        return [_shape(v) for v in x]
    return type(x).__name__


@MODELS.register_module()
class DistillModel(BaseModel):
    """Train a student with a frozen teacher's features as extra targets.

    The student is any model of any OpenMMLab scope (mmdet, mmseg, mmdet3d).
    Taps capture student and teacher features by module path; an optional
    connector maps a student feature to the teacher's shape; each distill
    loss reads one student and one teacher tap. ``predict`` and ``tensor``
    modes are the student's own, so the student's evaluator tests it.

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
            ``dict(path=..., io='input')`` its input.
        losses (dict): Maps a loss name to a loss config holding
            ``student=<tap name>`` and ``teacher=<tap name>`` besides the
            loss's own arguments. It is logged as ``distill.loss_<name>``.
        connectors (dict, optional): Maps a student tap name to a connector
            config (or a list of them, one per element of a tap that yields
            a tuple, e.g. FPN levels), applied before every loss reading
            that tap. Defaults to None.
        data_preprocessor (dict, optional): Used by the student when its
            config has none (the Runner passes a config's top-level
            ``data_preprocessor`` here); otherwise it must equal the
            student's. The teacher always uses its own. Defaults to None.
        init_cfg (dict, optional): Initialization config. Defaults to None.
    """

    def __init__(self,
                 student: dict,
                 teacher: Optional[dict] = None,
                 teacher_ckpt: Optional[str] = None,
                 taps: Optional[dict] = None,
                 losses: Optional[dict] = None,
                 connectors: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
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
            if own != data_preprocessor:
                raise ValueError(
                    'DistillModel got a data_preprocessor that differs from '
                    "the student's; the student and the teacher use the "
                    'data_preprocessor of their own model configs. Remove '
                    'it or set student.data_preprocessor.')
        self.student = MODELS.build(student_cfg)
        if teacher is None:
            if teacher_ckpt is not None:
                raise ValueError('teacher_ckpt is given without a teacher '
                                 'config; set `teacher`')
            # a mean teacher: weights come from the student via the hook
            teacher_model = copy.deepcopy(self.student)
            teacher_pp_cfg = None
        else:
            if teacher_ckpt is None:
                raise ValueError(
                    'teacher_ckpt is required with a teacher config: a '
                    'randomly initialised teacher teaches nothing')
            teacher_cfg = resolve_model_cfg(teacher, 'teacher')
            teacher_model = MODELS.build(teacher_cfg)
            load_teacher_checkpoint(teacher_model, teacher_ckpt)
            teacher_pp_cfg = teacher_cfg.get('data_preprocessor')
            if teacher_pp_cfg == student_cfg.get('data_preprocessor'):
                teacher_pp_cfg = None
        teacher_model.requires_grad_(False)
        teacher_model.eval()
        object.__setattr__(self, 'teacher', teacher_model)
        self.teacher_ckpt = teacher_ckpt
        # set by MeanTeacherHook once the copy holds the student's weights
        self.teacher_synced = teacher is not None

        self.data_preprocessor = DistillDataPreprocessor(
            self.student.data_preprocessor,
            teacher_model.data_preprocessor if teacher_pp_cfg else None)

        taps = dict(taps or {})
        for side in taps:
            if side not in _SIDES:
                raise KeyError(f'taps has unknown key {side!r}'
                               f'{_suggest(side, _SIDES)} (keys: student, '
                               'teacher)')
        self.student_taps = FeatureTaps(self.student,
                                        taps.get('student', {}), 'student')
        self.student_taps.enabled = False
        self.teacher_taps = FeatureTaps(
            teacher_model,
            taps.get('teacher', {}),
            'teacher',
            stop_when_complete=True)

        self.connectors = self._build_connectors(connectors or {})
        self.loss_routes: Dict[str, Dict[str, str]] = {}
        self.distill_losses = self._build_losses(losses or {})
        #: multipliers of each distill loss, set by DistillLossWeightHook
        self.distill_loss_scales = {name: 1.0 for name in self.loss_routes}
        self.distill_enabled = True

    # ------------------------------------------------------------------
    # building
    def _build_connectors(self, cfgs: dict) -> nn.ModuleDict:
        connectors = nn.ModuleDict()
        for name, cfg in cfgs.items():
            if name not in self.student_taps.cfgs:
                raise KeyError(
                    f'connector {name!r} names no student tap'
                    f'{_suggest(name, self.student_taps.cfgs)} (student '
                    f'taps: {", ".join(self.student_taps.cfgs) or "none"})')
            if isinstance(cfg, (list, tuple)):
                connectors[name] = nn.ModuleList(
                    [_build_mmkd(c) for c in cfg])
            else:
                connectors[name] = _build_mmkd(cfg)
        return connectors

    def _build_losses(self, cfgs: dict) -> nn.ModuleDict:
        if not cfgs:
            raise ValueError('DistillModel needs at least one entry in '
                             '`losses`; without one it trains the student '
                             'alone')
        losses = nn.ModuleDict()
        for name, cfg in cfgs.items():
            cfg = dict(cfg)
            route = {}
            for side in _SIDES:
                taps = getattr(self, f'{side}_taps').cfgs
                if side not in cfg:
                    raise KeyError(
                        f'distill loss {name!r} needs {side}=<tap name> '
                        f'(one of: {", ".join(taps) or "no taps defined"})')
                tap = cfg.pop(side)
                if tap not in taps:
                    raise KeyError(
                        f'distill loss {name!r} reads {side} tap {tap!r}, '
                        f'which no tap provides{_suggest(tap, taps)} '
                        f'({side} taps: {", ".join(taps) or "none"})')
                route[side] = tap
            try:
                loss = _build_mmkd(cfg)
            except TypeError as e:
                raise TypeError(f'distill loss {name!r}: {e}') from e
            name = name[len('loss_'):] if name.startswith('loss_') else name
            losses[name] = loss
            self.loss_routes[name] = route
        return losses

    @property
    def distill_enabled(self) -> bool:
        """Whether ``loss`` runs the teacher and the distill losses;
        switched off by :class:`StopDistillHook`."""
        return self.data_preprocessor.with_teacher_inputs

    @distill_enabled.setter
    def distill_enabled(self, enabled: bool) -> None:
        self.data_preprocessor.with_teacher_inputs = bool(enabled)

    # ------------------------------------------------------------------
    # the teacher stays frozen, in eval mode and out of the module tree
    def train(self, mode: bool = True) -> 'DistillModel':
        super().train(mode)
        self.teacher.eval()
        return self

    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        self.teacher._apply(fn, *args, **kwargs)
        return self

    def _set_device(self, device: torch.device) -> None:
        super()._set_device(device)
        self.teacher._set_device(device)

    def __deepcopy__(self, memo: dict) -> 'DistillModel':
        # EMA copies and the like share the frozen teacher
        memo[id(self.teacher)] = self.teacher
        new = self.__class__.__new__(self.__class__)
        memo[id(self)] = new
        for key, value in self.__dict__.items():
            object.__setattr__(new, key, copy.deepcopy(value, memo))
        return new

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
        if not self.distill_enabled:
            return self.student(inputs, data_samples, mode='loss')
        teacher_feats = self.teacher_forward(
            inputs if teacher_inputs is None else teacher_inputs,
            data_samples)
        losses, student_feats = self.student_forward(inputs, data_samples)
        losses.update(
            self.compute_distill_losses(student_feats, teacher_feats,
                                        data_samples))
        return losses

    def student_forward(self, inputs: Any, data_samples: Optional[list]
                        ) -> Tuple[Dict[str, Tensor], Dict[str, Any]]:
        """The student's own losses and its taps, captured meanwhile."""
        self.student_taps.enabled = True
        try:
            losses = self.student(inputs, data_samples, mode='loss')
        finally:
            self.student_taps.enabled = False
        return losses, self.student_taps.pop()

    @torch.no_grad()
    def teacher_forward(self, inputs: Any,
                        data_samples: Optional[list]) -> Dict[str, Any]:
        """Run the teacher until its last tap fired; return the taps."""
        if not self.teacher_synced:
            raise RuntimeError(
                'teacher=None makes the teacher a copy of the student, which '
                'MeanTeacherHook keeps up to date; add custom_hooks = '
                "[dict(type='mmkd.MeanTeacherHook')] or give a teacher and "
                'teacher_ckpt')
        if len(self.teacher_taps) == 0:
            return {}
        try:
            self.teacher(inputs, data_samples, mode='tensor')
        except TapsComplete:
            pass
        return self.teacher_taps.pop()

    def compute_distill_losses(self, student_feats: Dict[str, Any],
                               teacher_feats: Dict[str, Any],
                               data_samples: Optional[list]
                               ) -> Dict[str, Tensor]:
        """Apply connectors and every distill loss to captured features.

        Args:
            student_feats (dict): Student tap name to its value.
            teacher_feats (dict): Teacher tap name to its value.
            data_samples (list, optional): Passed to losses whose
                ``forward`` takes ``data_samples``.

        Returns:
            dict: ``distill.loss_<name>`` to a scalar loss.
        """
        connected = {
            name: self._connect(name, feat)
            for name, feat in student_feats.items()
        }
        losses = {}
        for name, loss_module in self.distill_losses.items():
            route = self.loss_routes[name]
            loss = self._call_loss(name, loss_module,
                                   connected[route['student']],
                                   teacher_feats[route['teacher']],
                                   data_samples)
            losses[f'distill.loss_{name}'] = \
                loss * self.distill_loss_scales[name]
        return losses

    def _connect(self, name: str, feat: Any) -> Any:
        if name not in self.connectors:
            return feat
        connector = self.connectors[name]
        if isinstance(connector, nn.ModuleList):
            if not isinstance(feat, (list, tuple)) or len(feat) != len(
                    connector):
                raise ValueError(
                    f'connector {name!r} has {len(connector)} elements but '
                    f'student tap {name!r} yields {_shape(feat)}')
            return type(feat)(c(f) for c, f in zip(connector, feat))
        if isinstance(feat, (list, tuple)):
            return type(feat)(connector(f) for f in feat)
        return connector(feat)

    def _call_loss(self, name: str, loss_module: nn.Module, student: Any,
                   teacher: Any, data_samples: Optional[list]) -> Tensor:
        if isinstance(student, (list, tuple)) and isinstance(
                teacher, (list, tuple)):
            if len(student) != len(teacher):
                raise ValueError(
                    f'distill loss {name!r}: student tap yields '
                    f'{len(student)} tensors, teacher tap {len(teacher)}')
            # one term per element (e.g. per FPN level), summed
            return sum(
                self._call_loss(name, loss_module, s, t, data_samples)
                for s, t in zip(student, teacher))
        if getattr(loss_module, 'requires_same_shape', True) and (
                _shape(student) != _shape(teacher)):
            route = self.loss_routes[name]
            hint = ''
            if isinstance(student, Tensor) and isinstance(teacher, Tensor) \
                    and student.dim() == 4 and teacher.dim() == 4 \
                    and student.shape[2:] == teacher.shape[2:]:
                hint = (f"; add connectors=dict({route['student']}=dict("
                        "type='mmkd.ConvConnector', in_channels="
                        f'{student.shape[1]}, out_channels='
                        f'{teacher.shape[1]}))')
            else:
                hint = ('; add a connector for student tap '
                        f"{route['student']!r} that maps it to the teacher's"
                        ' shape')
            raise ValueError(
                f"distill loss {name!r}: student tap {route['student']!r} "
                f'has shape {_shape(student)} but teacher tap '
                f"{route['teacher']!r} has shape {_shape(teacher)}{hint}")
        if self._takes_data_samples(loss_module):
            return loss_module(student, teacher, data_samples=data_samples)
        return loss_module(student, teacher)

    @staticmethod
    def _takes_data_samples(loss_module: nn.Module) -> bool:
        return 'data_samples' in inspect.signature(
            loss_module.forward).parameters

    def predict(self, inputs: Any,
                data_samples: Optional[list] = None) -> list:
        """The student's predictions."""
        return self.student(inputs, data_samples, mode='predict')
