# Copyright (c) mmkd contributors. All rights reserved.
import copy
import difflib
import inspect
import logging
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.device import get_device
from mmengine.logging import MessageHub, print_log
from torch import Tensor

from mmkd.registry import MODELS, TASK_UTILS
from .taps import FeatureTaps, TapsComplete, parse_tap_cfg

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


_DTYPES = {None: None, 'bf16': torch.bfloat16, 'fp16': torch.float16}
_TEACHER_MODES = ('tensor', 'loss')


def _finite(x: Any) -> bool:
    """Whether every tensor in ``x`` (nested lists/tuples/dicts) is
    finite."""
    if isinstance(x, Tensor):
        return bool(torch.isfinite(x).all())
    if isinstance(x, (list, tuple)):
        return all(_finite(v) for v in x)
    if isinstance(x, dict):
        return all(_finite(v) for v in x.values())
    return True


def _cast_floats(data: Any, dtype: torch.dtype) -> Any:
    """Cast the floating tensors in nested dicts/lists/tuples to ``dtype``."""
    if isinstance(data, Tensor):
        return data.to(dtype) if data.is_floating_point() else data
    if isinstance(data, dict):
        return {k: _cast_floats(v, dtype) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return type(data)(_cast_floats(v, dtype) for v in data)
    return data


class Distiller(nn.Module):
    """Taps, connectors and distill losses between a student and a teacher.

    The one implementation behind :class:`DistillModel` (which owns the
    student) and ``DistillHook`` (which distils into a model built by an
    unmodified OpenMMLab project). Connectors and losses are registered
    submodules, so they train and checkpoint with whatever holds the
    distiller; the student and the teacher are not: the student belongs to
    its owner, and the frozen teacher stays out of ``state_dict()``, the
    optimizer, DDP and deep copies, while ``.to()``/``.cuda()`` still move
    it.

    Args:
        student (nn.Module): The model being trained.
        teacher (nn.Module, optional): The teacher; frozen and put in eval
            mode here. None builds an evaluation-only distiller: connectors
            and losses exist (a trained checkpoint's keys match), teacher
            tap names are checked but not resolved, and
            :meth:`teacher_forward` raises.
        taps (dict): ``dict(student=dict(name=path), teacher=...)``, see
            :class:`FeatureTaps`.
        losses (dict): Loss name to a loss config with ``student=`` and
            ``teacher=`` tap names. A tap yielding a list or tuple (FPN
            levels) gives one loss term per element, summed, unless the
            loss sets ``takes_sequences = True``. A loss with a
            ``check_models(name, student, teacher, student_tap,
            teacher_tap, connector)`` method is given the models at build
            time to refuse what it cannot work with. ``mask=dict(type=...)``
            in a loss config builds a weight map from the ground truth (see
            :mod:`mmkd.models.utils.gt_masks`), passed to the loss as
            ``weight`` of shape ``(B, 1, H, W)`` at the teacher tap's
            resolution; ``mask_average=True`` next to it averages the loss
            over the masked elements (``avg_factor``) instead of all.
        connectors (dict, optional): Student tap name to a connector config
            or a list of them. Defaults to None. A connector (here or a
            loss's own ``connector=``) with a ``check_models(name, student,
            teacher, student_tap, teacher_tap)`` method is given, for each
            loss reading it, the models and that loss's tap configs (one, a
            list or a dict of them, as the loss names its taps) at build
            time; ``teacher`` is None without a teacher.
        teacher_dtype (str, optional): ``'bf16'`` or ``'fp16'`` to run the
            teacher in reduced precision (weights and floating inputs cast
            once); its tapped outputs are cast back to float32, so losses run
            in full precision. Defaults to None (the teacher's own dtype).
        teacher_mode (str): The mode the teacher's forward runs in until
            its last tap: ``'tensor'``, or ``'loss'`` for models without a
            tensor mode (mmdet3d's ``MVXTwoStageDetector``, e.g.
            CenterPoint; the teacher's loss is computed on the first
            forward only, which runs to the end to count the taps' calls).
            Defaults to ``'tensor'``.
    """

    def __init__(self,
                 student: nn.Module,
                 teacher: Optional[nn.Module],
                 taps: Optional[dict],
                 losses: Optional[dict],
                 connectors: Optional[dict] = None,
                 teacher_dtype: Optional[str] = None,
                 teacher_mode: str = 'tensor') -> None:
        super().__init__()
        if teacher_mode not in _TEACHER_MODES:
            raise ValueError(f'teacher_mode must be one of '
                             f'{", ".join(_TEACHER_MODES)}, got '
                             f'{teacher_mode!r}')
        self.teacher_mode = teacher_mode
        if teacher_dtype not in _DTYPES:
            raise ValueError(f'teacher_dtype must be one of '
                             f'{", ".join(map(str, _DTYPES))}, got '
                             f'{teacher_dtype!r}')
        self.teacher_dtype = _DTYPES[teacher_dtype]
        if teacher_dtype == 'fp16' and get_device() == 'cpu':
            # tools/analysis_tools/cpu_dtype_speed.py, docs/benchmarks.md
            print_log(
                "teacher_dtype='fp16' runs the teacher on the CPU, where "
                'float16 is slower than float32 (1.2 times with AVX512-FP16, '
                '56 times with AVX2 kernels only, measured by '
                'tools/analysis_tools/cpu_dtype_speed.py) and overflows '
                "above 65504. On CPU use teacher_dtype='bf16' if the CPU "
                'has AVX512-BF16 or AMX (faster than float32 there), else '
                'teacher_dtype=None.',
                logger='current',
                level=logging.WARNING)
        if teacher is not None:
            teacher.requires_grad_(False)
            teacher.eval()
            if self.teacher_dtype is not None:
                teacher.to(self.teacher_dtype)
        object.__setattr__(self, 'student', student)
        object.__setattr__(self, 'teacher', teacher)
        #: False while a mean teacher does not hold the student's weights yet
        self.teacher_synced = True
        #: switched off by StopDistillHook
        self.enabled = True

        taps = dict(taps or {})
        for side in taps:
            if side not in _SIDES:
                raise KeyError(f'taps has unknown key {side!r}'
                               f'{_suggest(side, _SIDES)} (keys: student, '
                               'teacher)')
        self.student_taps = FeatureTaps(student, taps.get('student', {}),
                                        'student')
        self.student_taps.enabled = False
        if teacher is None:
            # nothing to hook: the names still route the losses below
            self.teacher_taps = None
            self.teacher_tap_cfgs = {
                name: parse_tap_cfg('teacher', name, cfg)
                for name, cfg in taps.get('teacher', {}).items()
            }
        else:
            self.teacher_taps = FeatureTaps(
                teacher,
                taps.get('teacher', {}),
                'teacher',
                stop_when_complete=True)
            self.teacher_tap_cfgs = self.teacher_taps.cfgs

        self.connectors = self._build_connectors(connectors or {})
        self._teacher_input_shape = None
        self.loss_routes: Dict[str, Dict[str, str]] = {}
        self.losses = self._build_losses(losses or {})
        #: multipliers of each distill loss, set by DistillLossWeightHook
        self.loss_scales = {name: 1.0 for name in self.loss_routes}

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
        self.loss_masks: Dict[str, Any] = {}
        #: connectors of one loss (``connector=`` in its config)
        self.loss_connectors = nn.ModuleDict()
        for name, cfg in cfgs.items():
            cfg = dict(cfg)
            mask_cfg = cfg.pop('mask', None)
            mask_average = cfg.pop('mask_average', False)
            connector_cfg = cfg.pop('connector', None)
            route = {}
            for side in _SIDES:
                taps = (self.student_taps.cfgs
                        if side == 'student' else self.teacher_tap_cfgs)
                if side not in cfg:
                    raise KeyError(
                        f'distill loss {name!r} needs {side}=<tap name> '
                        f'(one of: {", ".join(taps) or "no taps defined"})')
                route[side] = self._route(name, side, cfg.pop(side), taps)
            try:
                loss = _build_mmkd(cfg)
            except TypeError as e:
                raise TypeError(f'distill loss {name!r}: {e}') from e
            if isinstance(route['student'], dict) and not getattr(
                    loss, 'takes_sequences', False):
                raise TypeError(
                    f'distill loss {name!r} reads a dict of taps, which '
                    f'{type(loss).__name__} does not take (it declares no '
                    '`takes_sequences = True`); give a list of tap names to '
                    'sum the loss over pairs of taps')
            if hasattr(loss, 'check_models') and self.teacher is not None \
                    and isinstance(route['student'], str) \
                    and isinstance(route['teacher'], str):
                # what a loss can tell from the models (grids, channels)
                # fails here rather than after the first step
                loss.check_models(
                    name=name,
                    student=self.student,
                    teacher=self.teacher,
                    student_tap=self.student_taps.cfgs[route['student']],
                    teacher_tap=self.teacher_tap_cfgs[route['teacher']],
                    connector=self.connectors[route['student']]
                    if route['student'] in self.connectors else None)
            if isinstance(route['student'], str) and \
                    route['student'] in self.connectors:
                self._check_connector(name,
                                      self.connectors[route['student']],
                                      route)
            if connector_cfg is not None:
                connector = _build_mmkd(connector_cfg)
                self._check_connector(name, connector, route)
            name = name[len('loss_'):] if name.startswith('loss_') else name
            if mask_cfg is not None:
                self.loss_masks[name] = (self._build_mask(
                    name, mask_cfg, loss), bool(mask_average))
            if connector_cfg is not None:
                self.loss_connectors[name] = connector
            losses[name] = loss
            self.loss_routes[name] = route
        return losses

    def _check_connector(self, name: str, connector: nn.Module,
                         route: dict) -> None:
        """Give a connector's ``check_models`` the models and the configs
        of the taps a loss reads through it (one, a list or a dict of them,
        as in the loss config), so that it refuses channels or stage counts
        that do not fit before training. ``teacher`` is None for an
        evaluation-only distiller."""
        if not hasattr(connector, 'check_models'):
            return
        cfgs = dict(student=self.student_taps.cfgs,
                    teacher=self.teacher_tap_cfgs)
        taps = {
            side: self._gather(cfgs[side], route[side])
            for side in _SIDES
        }
        connector.check_models(
            name=name,
            student=self.student,
            teacher=self.teacher,
            student_tap=taps['student'],
            teacher_tap=taps['teacher'])

    @staticmethod
    def _route(name: str, side: str, value: Any, taps: dict) -> Any:
        """A loss's tap name, list of names or dict of names, checked."""

        def check(tap):
            if not isinstance(tap, str):
                raise TypeError(
                    f'distill loss {name!r}: {side}= takes a tap name, a '
                    f'list or a dict of them, got {tap!r}')
            if tap not in taps:
                raise KeyError(
                    f'distill loss {name!r} reads {side} tap {tap!r}, '
                    f'which no tap provides{_suggest(tap, taps)} '
                    f'({side} taps: {", ".join(taps) or "none"})')
            return tap

        if isinstance(value, (list, tuple)):
            if not value:
                raise ValueError(f'distill loss {name!r}: {side}= is an '
                                 'empty list of taps')
            return [check(v) for v in value]
        if isinstance(value, dict):
            return {k: check(v) for k, v in value.items()}
        return check(value)

    @staticmethod
    def _gather(feats: Dict[str, Any], route: Any) -> Any:
        """The value(s) a loss reads: one tap, a list or a dict of taps."""
        if isinstance(route, list):
            return [feats[r] for r in route]
        if isinstance(route, dict):
            return {k: feats[r] for k, r in route.items()}
        return feats[route]

    @staticmethod
    def _build_mask(name: str, cfg: dict, loss: nn.Module) -> Any:
        if 'weight' not in inspect.signature(loss.forward).parameters:
            raise TypeError(
                f'distill loss {name!r} has a mask, but '
                f'{type(loss).__name__}.forward takes no `weight`')
        cfg = dict(cfg)
        cfg.setdefault('_scope_', 'mmkd')
        builder = TASK_UTILS.build(cfg)
        if not callable(builder):
            raise TypeError(f'distill loss {name!r}: mask {cfg["type"]!r} '
                            'is not a mask builder (not callable)')
        return builder

    @torch.no_grad()
    def teacher_forward(self, inputs: Any,
                        data_samples: Optional[list]) -> Dict[str, Any]:
        """Run the teacher until its last tap fired; return the taps."""
        if self.teacher is None:
            raise RuntimeError(
                'this distiller was built for evaluation (eval_only=True) '
                'and has no teacher; build it with the teacher to train')
        if not self.teacher_synced:
            raise RuntimeError(
                'teacher=None makes the teacher a copy of the student, which '
                'MeanTeacherHook keeps up to date; add custom_hooks = '
                "[dict(type='mmkd.MeanTeacherHook')] or give a teacher and "
                'teacher_ckpt')
        if len(self.teacher_taps) == 0:
            return {}
        self._teacher_input_shape = _shape(inputs)
        if self.teacher_dtype is not None:
            inputs = _cast_floats(inputs, self.teacher_dtype)
        learning_calls = self.teacher_taps.calls is None
        try:
            self.teacher(inputs, data_samples, mode=self.teacher_mode)
        except TapsComplete:
            pass
        except TypeError as e:
            # mmdet3d's MVXTwoStageDetector has a `_forward(self)` stub
            if self.teacher_mode == 'tensor' and '_forward()' in str(e):
                raise TypeError(
                    f'the teacher {type(self.teacher).__name__} has no '
                    f"tensor mode ({e}); set teacher_mode='loss' to run "
                    'it in loss mode until its last tap') from e
            raise
        except Exception as e:  # noqa: BLE001
            # The first forward runs to the end to count the calls of each
            # tapped module; what comes after the last tap is never used
            # (e.g. a bf16 teacher's NMS), so its failure is reported only.
            if not learning_calls or self.teacher_taps.missing():
                raise
            print_log(
                f'the teacher raised {type(e).__name__}: {e} after its last '
                'tap on the first forward; the taps are complete and later '
                'forwards stop after them. A tapped module that should run '
                'more often than it did before the error would be cut short.',
                logger='current',
                level=logging.WARNING)
        feats = self.teacher_taps.pop()
        if self.teacher_dtype is not None:
            feats = _cast_floats(feats, torch.float32)
        return feats

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

        Raises:
            FloatingPointError: A loss is NaN or infinite. Raised before the
                backward pass, so no optimizer step and no checkpoint ever
                holds the weights it would give.
        """
        connected = {
            name: self._connect(name, feat)
            for name, feat in student_feats.items()
        }
        losses = {}
        for name, loss_module in self.losses.items():
            route = self.loss_routes[name]
            student = self._gather(connected, route['student'])
            if name in self.loss_connectors:
                student = self._run_connector(self.loss_connectors[name],
                                              student)
            loss = self._call_loss(name, loss_module, student,
                                   self._gather(teacher_feats,
                                                route['teacher']),
                                   data_samples)
            losses[f'distill.loss_{name}'] = \
                loss * self.loss_scales[name]
        # one device sync for all losses; the logger syncs on them anyway
        sums = torch.stack([v.detach().float().sum() for v in losses.values()])
        if not bool(sums.isfinite().all()):
            self._raise_non_finite(losses, student_feats, connected,
                                   teacher_feats)
        return losses

    def _raise_non_finite(self, losses: Dict[str, Tensor],
                          student_feats: Dict[str, Any],
                          connected: Dict[str, Any],
                          teacher_feats: Dict[str, Any]) -> None:
        """Say which loss is not finite, where it may come from and what
        to change."""
        key, value = next((k, v) for k, v in losses.items() if not _finite(v))
        name = key[len('distill.loss_'):]
        route = self.loss_routes[name]
        kind = 'nan' if bool(value.detach().isnan().any()) else 'inf'
        it = MessageHub.get_current_instance().get_info('iter')
        # the runner stores the iterations done before this one
        at = '' if it is None else f' at iteration {it + 1}'
        if not _finite(self._gather(teacher_feats, route['teacher'])):
            cause = f"the teacher tap {route['teacher']!r} is not finite"
            if self.teacher_dtype == torch.float16:
                cause += (
                    " and the teacher runs in fp16, whose largest value is "
                    "65504: use teacher_dtype='bf16' (float32's range) or "
                    'teacher_dtype=None (float32)')
            else:
                cause += ': check teacher_ckpt and the inputs'
        elif not _finite(self._gather(student_feats, route['student'])):
            cause = (f"the student tap {route['student']!r} is not finite: "
                     'the student diverged; lower the learning rate')
        elif not _finite(self._gather(connected, route['student'])):
            cause = (f"the connector of student tap {route['student']!r} "
                     'gives non-finite values; lower the learning rate')
        else:
            cause = 'the taps are finite, the loss overflowed'
        raise FloatingPointError(
            f'{key} is {kind}{at}: {cause}. If it recurs, lower the '
            f'loss_weight of {name!r} (a large distillation loss can blow '
            'up the student). Training stops here, before the optimizer '
            'step, so no checkpoint holds non-finite weights.')

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
        return self._run_connector(connector, feat)

    @staticmethod
    def _run_connector(connector: nn.Module, feat: Any) -> Any:
        """A connector on a value, element by element for a list, tuple or
        dict unless it declares ``takes_sequences = True`` (it then maps
        several taps at once, e.g. fuses each stage with a deeper one)."""
        if getattr(connector, 'takes_sequences', False):
            return connector(feat)
        if isinstance(feat, (list, tuple)):
            return type(feat)(connector(f) for f in feat)
        if isinstance(feat, dict):
            return {k: connector(f) for k, f in feat.items()}
        return connector(feat)

    def _call_loss(self, name: str, loss_module: nn.Module, student: Any,
                   teacher: Any, data_samples: Optional[list]) -> Tensor:
        if isinstance(student, (list, tuple)) and isinstance(
                teacher, (list, tuple)) and not getattr(
                    loss_module, 'takes_sequences', False):
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
            if self._teacher_input_shape is not None:
                # a teacher preprocessor that pads or resizes otherwise than
                # the student's shows up here first
                hint += (f' (the teacher ran on inputs of shape '
                         f'{self._teacher_input_shape}: if its '
                         "data_preprocessor pads or resizes differently from "
                         "the student's, make them agree)")
            raise ValueError(
                f"distill loss {name!r}: student tap {route['student']!r} "
                f'has shape {_shape(student)} but teacher tap '
                f"{route['teacher']!r} has shape {_shape(teacher)}{hint}")
        kwargs = {}
        if name in self.loss_masks:
            builder, average = self.loss_masks[name]
            with torch.no_grad():
                weight = builder(data_samples, tuple(teacher.shape[-2:]),
                                 teacher.device)
            kwargs['weight'] = weight
            if average:
                # masked elements: mask sum x the channels it broadcasts to
                channels = teacher.shape[1] if weight.shape[1] == 1 else 1
                kwargs['avg_factor'] = weight.sum().clamp(min=1) * channels
        if self._takes_data_samples(loss_module):
            kwargs['data_samples'] = data_samples
        return loss_module(student, teacher, **kwargs)

    @staticmethod
    def _takes_data_samples(loss_module: nn.Module) -> bool:
        return 'data_samples' in inspect.signature(
            loss_module.forward).parameters

    def step(self, student_loss: Callable[[], Dict[str, Tensor]],
             teacher_outputs: Callable[[], Dict[str, Any]],
             data_samples: Optional[list]) -> Dict[str, Tensor]:
        """One distillation step, the same for DistillModel and DistillHook.

        Gets the teacher's taps, runs the student's own loss forward with
        its taps on, and adds ``distill.loss_<name>`` for every loss; with
        distillation off (``StopDistillHook``) only the student's loss runs.

        Args:
            student_loss (callable): Runs the student's loss forward and
                returns its losses.
            teacher_outputs (callable): Returns the teacher's taps (it runs
                the teacher, or reads a cache).
            data_samples (list, optional): The batch's data samples, for
                losses and masks that read ground truth.

        Returns:
            dict: The student's losses and the distill losses.
        """
        if not self.enabled:
            return student_loss()
        teacher_feats = teacher_outputs()
        losses, student_feats = self.capture_student(student_loss)
        losses.update(
            self.compute_distill_losses(student_feats, teacher_feats,
                                        data_samples))
        return losses

    def capture_student(self, forward: Callable[[], Dict[str, Tensor]]
                        ) -> Tuple[Dict[str, Tensor], Dict[str, Any]]:
        """Run ``forward`` (the student's loss forward) with the student taps
        on; return its losses and the captured taps."""
        with self.student_taps.switched(True):
            losses = forward()
        return losses, self.student_taps.pop()

    # the teacher stays frozen, in eval mode and out of the module tree
    def train(self, mode: bool = True) -> 'Distiller':
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()
        return self

    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        if self.teacher is not None:
            self.teacher._apply(fn, *args, **kwargs)
        return self

    def __deepcopy__(self, memo: dict) -> 'Distiller':
        # EMA copies and the like share the frozen teacher
        memo[id(self.teacher)] = self.teacher
        new = self.__class__.__new__(self.__class__)
        memo[id(self)] = new
        for key, value in self.__dict__.items():
            object.__setattr__(new, key, copy.deepcopy(value, memo))
        return new
