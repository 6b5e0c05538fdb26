# Copyright (c) mmkd contributors. All rights reserved.
"""Profile where the time and memory of a distillation step go.

Builds the Runner's model, optimizer wrapper and train dataloader from a
config whose model exposes the ``DistillControls`` protocol
(``distill_loss_scales`` / ``distill_enabled``, see
``mmkd/models/distillers/protocol.py``) and times, over the same batches:

* for a ``DistillModel``, a breakdown of the distill step: ``data`` (next
  batch and the data preprocessor), ``teacher_forward``, ``student_forward``
  (the student's loss forward with its taps on), ``distill_loss``,
  ``backward`` (of the student's own plus the distill losses) and
  ``optim_step``;
* three variants, interleaved in one loop: for every batch each variant
  runs once, in an order rotating from batch to batch, so a load that comes
  and goes (another job) hits them alike. For a ``DistillModel``:
  ``distill_step`` (``model.train_step``, what the Runner runs),
  ``student_step`` (the student trained alone: its ``train_step`` with taps
  off and no teacher) and ``teacher_inference`` (``teacher_forward`` on
  preprocessed inputs). For a model of its own (e.g. ``LPLDDetector``):
  ``distill_step`` (its ``train_step``), ``student_step`` (its
  ``train_step`` with ``distill_enabled=False``: what it trains without
  distillation, which may still run its teacher, as LPLD's HPL pseudo
  labels do) and, when it has a ``teacher_forward(inputs, data_samples)``,
  ``teacher_inference``.

The overhead ratio of a ``DistillModel`` is ``distill_step / (student_step
+ teacher_inference)``: 1.0 means distilling costs exactly a student step
plus a teacher forward; that of a model of its own is ``distill_step /
student_step``, the cost of its distillation over its own step without it.
It is reported per batch (the variants' times on the same batch, paired)
as a median and inter-quartile range, on wall time and on the CPU time of
the profiling thread (``time.thread_time()``, which another process's load
does not inflate); the ratio of the medians is kept as ``overhead_ratio``.
Weights and optimizer state are restored before every training step and at
the end, so each variant starts from the same model: by default the model as
built, so the profile sees the numerics of the first step only. Effects that
appear after updates (e.g. weights drifting into denormal floats, which
slow CPU matmuls) need ``--train-first K``: K training steps of the
model's ``train_step`` (no Runner hooks: no loss-weight ramps) before the
snapshot that every measured step restores. A finite dataloader
(``DefaultSampler``) is iterated again when exhausted.

Example::

    python tools/analysis_tools/distill_profile.py \\
        configs/cwd/cwd_logits_fcn-r18w32_*.py --iters 20 --warmup 5 \\
        --cfg-options model.teacher_ckpt=teacher.pth --out profile.json
"""
import argparse
import contextlib
import copy
import json
import logging
import os.path as osp
import resource
import sys
import tempfile
import time
from collections import OrderedDict, defaultdict
from typing import (Any, Callable, Dict, Iterator, List, NamedTuple,
                    Optional, Tuple)

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

import mmkd  # noqa: F401  (registries, torch.load allow-list)
from mmkd.models.distillers import DistillModel
from mmkd.models.distillers.protocol import has_distill_controls

#: phase name -> what it measures for a DistillModel, in table order
PHASES = OrderedDict([
    ('data', 'next batch + data_preprocessor'),
    ('teacher_forward', 'teacher_forward (no_grad, to its last tap)'),
    ('student_forward', 'student loss forward, taps on'),
    ('distill_loss', 'compute_distill_losses + parse_losses'),
    ('backward', 'backward of student + distill losses'),
    ('student_fwd_bwd', 'student_forward + backward'),
    ('optim_step', 'optimizer step + zero_grad'),
    ('distill_step', '(a) model.train_step'),
    ('student_step', '(b) student.train_step, no teacher'),
    ('teacher_inference', '(c) teacher_forward alone'),
])
#: the same for a model of its own exposing DistillControls
OWN_MODEL_PHASES = OrderedDict([
    ('data', 'next batch + data_preprocessor'),
    ('distill_step', '(a) model.train_step'),
    ('student_step', '(b) model.train_step, distill_enabled=False'),
    ('teacher_inference', '(c) model.teacher_forward (no_grad)'),
])
#: the variants timed interleaved, batch by batch
VARIANTS = ('distill_step', 'student_step', 'teacher_inference')
RATIO = 'distill_step / (student_step + teacher_inference)'
OWN_MODEL_RATIO = 'distill_step / student_step'
_CLEAR_REFS = '/proc/self/clear_refs'
_STATUS = '/proc/self/status'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Profile the phases of a distillation train step')
    parser.add_argument('config', help='DistillModel train config file')
    parser.add_argument(
        '--iters', type=int, default=20, help='measured iterations per loop')
    parser.add_argument(
        '--warmup',
        type=int,
        default=5,
        help='iterations run before measuring, in every loop')
    parser.add_argument(
        '--work-dir',
        help='the Runner\'s work dir; a temporary one by default')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs')
    parser.add_argument(
        '--train-first',
        type=int,
        default=0,
        metavar='K',
        help='train K steps before profiling; every measured step starts '
        'from the weights and optimizer state after them')
    parser.add_argument('--out', help='write the results to this json file')
    args = parser.parse_args(argv)
    if args.iters < 1 or args.warmup < 0 or args.train_first < 0:
        parser.error('--iters must be >= 1, --warmup and --train-first '
                     '>= 0')
    return args


def _status_kib(key: str) -> int:
    """Read a ``Vm*`` line of ``/proc/self/status`` in KiB."""
    with open(_STATUS) as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1])
    raise KeyError(key)


def _can_reset_hwm() -> bool:
    try:
        with open(_CLEAR_REFS, 'w') as f:
            f.write('5')
        _status_kib('VmHWM')
    except (OSError, KeyError, ValueError):
        return False
    return True


class PeakMemory:
    """Peak memory of a span of code, in MiB.

    * CUDA: ``torch.cuda.max_memory_allocated`` in the span (absolute,
      weights included), its peak stats reset at the start.
    * CPU on Linux: the process's peak RSS in the span above its RSS at the
      start; the peak (``VmHWM``) is reset through ``/proc/self/clear_refs``.
    * Elsewhere: growth of ``resource.getrusage().ru_maxrss``, which never
      resets, so a span peaking below an earlier one reads 0.

    Args:
        device (torch.device): The model's device.
    """

    DESCRIPTIONS = dict(
        cuda_max_allocated='torch.cuda.max_memory_allocated in the phase '
        '(absolute, weights included)',
        rss_peak_delta='process peak RSS in the phase above the RSS at its '
        'start (VmHWM reset via /proc/self/clear_refs)',
        ru_maxrss_delta='growth of the process peak RSS (resource '
        'ru_maxrss) in the phase; 0 when an earlier phase peaked higher')

    def __init__(self, device: torch.device) -> None:
        self.device = device
        if device.type == 'cuda':
            self.kind = 'cuda_max_allocated'
        elif _can_reset_hwm():
            self.kind = 'rss_peak_delta'
        else:
            self.kind = 'ru_maxrss_delta'
        self._base = 0.

    @property
    def description(self) -> str:
        return self.DESCRIPTIONS[self.kind]

    @staticmethod
    def _maxrss_mib() -> float:
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        # bytes on macOS, KiB elsewhere
        return maxrss / 2**20 if sys.platform == 'darwin' else maxrss / 1024

    def start(self) -> None:
        if self.kind == 'cuda_max_allocated':
            torch.cuda.reset_peak_memory_stats(self.device)
        elif self.kind == 'rss_peak_delta':
            with open(_CLEAR_REFS, 'w') as f:
                f.write('5')
            self._base = _status_kib('VmRSS') / 1024
        else:
            self._base = self._maxrss_mib()

    def peak(self) -> float:
        if self.kind == 'cuda_max_allocated':
            return torch.cuda.max_memory_allocated(self.device) / 2**20
        if self.kind == 'rss_peak_delta':
            return max(_status_kib('VmHWM') / 1024 - self._base, 0.)
        return max(self._maxrss_mib() - self._base, 0.)


class Recorder:
    """Collect per-iteration times (ms), CPU times of this thread (ms) and
    peak memory (MiB) per phase.

    Args:
        device (torch.device): The model's device; CUDA is synchronized
            before every clock reading.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.memory = PeakMemory(device)
        self.times: Dict[str, List[float]] = defaultdict(list)
        self.cpu_times: Dict[str, List[float]] = defaultdict(list)
        self.mems: Dict[str, List[float]] = defaultdict(list)

    def now(self) -> float:
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def start(self) -> Tuple[float, float]:
        """Reset the memory peak; return the wall and thread CPU clocks."""
        self.memory.start()
        return self.now(), time.thread_time()

    def since(self, clocks: Tuple[float, float]) -> Tuple[float, float]:
        """Wall and thread CPU seconds since ``clocks`` (of :meth:`start`).
        """
        return self.now() - clocks[0], time.thread_time() - clocks[1]

    def add(self, name: str, seconds: float, mem: float,
            cpu_seconds: float) -> None:
        self.times[name].append(seconds * 1e3)
        self.cpu_times[name].append(cpu_seconds * 1e3)
        self.mems[name].append(mem)

    @contextlib.contextmanager
    def phase(self, name: str):
        """Time and measure the body of a ``with`` block as ``name``."""
        clocks = self.start()
        yield
        seconds, cpu = self.since(clocks)
        self.add(name, seconds, self.memory.peak(), cpu)

    def summary(self, name: str, warmup: int) -> dict:
        times = self.times[name][warmup:]
        cpu_times = self.cpu_times[name][warmup:]
        return dict(
            median_ms=float(np.median(times)),
            p90_ms=float(np.percentile(times, 90)),
            mean_ms=float(np.mean(times)),
            median_cpu_ms=float(np.median(cpu_times)),
            peak_mem_mib=float(max(self.mems[name][warmup:])),
            times_ms=[float(t) for t in times],
            cpu_ms=[float(t) for t in cpu_times])


def build_runner_parts(cfg: Config):
    """Build the Runner, its optimizer wrapper and train dataloader."""
    runner = Runner.from_cfg(cfg)
    runner.optim_wrapper = runner.build_optim_wrapper(cfg.optim_wrapper)
    loader = runner.build_dataloader(cfg.train_dataloader, seed=runner.seed)
    return runner, runner.optim_wrapper, loader


def cycle(loader) -> Iterator:
    """The batches of ``loader`` without end: a finite one (e.g. with
    ``DefaultSampler``) starts a new epoch when exhausted."""
    epoch = 0
    while True:
        sampler = getattr(loader, 'sampler', None)
        if hasattr(sampler, 'set_epoch'):
            sampler.set_epoch(epoch)
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            raise RuntimeError(
                'the train dataloader yields no batch (dataset of '
                f'{len(loader.dataset)} samples, batch size '
                f'{loader.batch_size}); nothing to profile')
        epoch += 1


def _teacher_inputs(data: dict):
    teacher_inputs = data.get('teacher_inputs')
    return data['inputs'] if teacher_inputs is None else teacher_inputs


def _batch_size(inputs) -> int:
    if isinstance(inputs, torch.Tensor):
        return int(inputs.shape[0])
    if isinstance(inputs, dict):  # e.g. mmdet3d's dict(points=[...])
        return _batch_size(next(iter(inputs.values())))
    return len(inputs)


def next_batch(model: nn.Module, data_iter: Iterator, rec: Recorder):
    """Time the next batch and its preprocessing as ``data``; return an
    untouched copy of the raw batch and the preprocessed one."""
    clocks = rec.start()
    raw = next(data_iter)
    load, load_cpu = rec.since(clocks)
    pristine = copy.deepcopy(raw)  # untimed: for the variants
    clocks = rec.start()
    data = model.data_preprocessor(raw, True)
    seconds, cpu = rec.since(clocks)
    rec.add('data', load + seconds, rec.memory.peak(), load_cpu + cpu)
    return pristine, data


def profile_breakdown(model, optim_wrapper, data_iter: Iterator, num: int,
                      rec: Recorder, restore: Callable[[], None]) -> list:
    """Run ``num`` distill steps of a DistillModel phase by phase; return
    the raw batches."""
    batches = []
    for _ in range(num):
        # every step starts from the same weights, as in the interleaved
        # loops: timings of one model, which cannot drift or diverge
        restore()
        raw, data = next_batch(model, data_iter, rec)
        batches.append(raw)
        inputs, data_samples = data['inputs'], data['data_samples']
        distiller = model.distiller
        with rec.phase('teacher_forward'):
            teacher_feats = distiller.teacher_forward(
                _teacher_inputs(data), data_samples)
        with rec.phase('student_forward'), \
                optim_wrapper.optim_context(model):
            losses, student_feats = distiller.capture_student(
                lambda: model.student(inputs, data_samples, mode='loss'))
        with rec.phase('distill_loss'):
            losses.update(
                distiller.compute_distill_losses(student_feats,
                                                 teacher_feats, data_samples))
            loss, _ = model.parse_losses(losses)
        with rec.phase('backward'):
            optim_wrapper.backward(optim_wrapper.scale_loss(loss))
        with rec.phase('optim_step'):
            if optim_wrapper.should_update():
                optim_wrapper.step()
                optim_wrapper.zero_grad()
        fwd_bwd = ('student_forward', 'backward')
        rec.add('student_fwd_bwd',
                sum(rec.times[name][-1] for name in fwd_bwd) / 1e3,
                max(rec.mems[name][-1] for name in fwd_bwd),
                sum(rec.cpu_times[name][-1] for name in fwd_bwd) / 1e3)
        del data, losses, loss, teacher_feats, student_feats
    return batches


def collect_batches(model, data_iter: Iterator, num: int,
                    rec: Recorder) -> list:
    """Draw ``num`` batches, timing ``data``; return the raw batches."""
    return [next_batch(model, data_iter, rec)[0] for _ in range(num)]


class Variant(NamedTuple):
    """One of the interleaved variants.

    Args:
        step (callable): The timed call, given the (prepared) batch.
        prepare (callable, optional): Untimed, maps a copy of the raw batch
            to what ``step`` takes.
        trains (bool): Whether it changes weights or optimizer state (they
            are restored before it).
    """
    step: Callable[[dict], Any]
    prepare: Optional[Callable[[dict], Any]] = None
    trains: bool = True


def profile_interleaved(batches: list, variants: 'OrderedDict[str, Variant]',
                        rec: Recorder,
                        restore: Callable[[], None]) -> List[List[str]]:
    """Run every variant once per batch, in an order rotating by one from
    batch to batch; return the orders."""
    names = list(variants)
    orders = []
    for i, raw in enumerate(batches):
        order = names[i % len(names):] + names[:i % len(names)]
        orders.append(order)
        for name in order:
            variant = variants[name]
            if variant.trains:
                restore()
            data = copy.deepcopy(raw)
            if variant.prepare is not None:
                data = variant.prepare(data)
            with rec.phase(name):
                variant.step(data)
            del data
    return orders


def spread(values: List[float]) -> dict:
    """Median and inter-quartile range of per-batch values."""
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return dict(
        median=float(median),
        q1=float(q1),
        q3=float(q3),
        iqr=float(q3 - q1),
        per_batch=[float(v) for v in values])


def paired_ratios(times: Dict[str, List[float]], parts: Tuple[str, ...],
                  warmup: int) -> List[float]:
    """``distill_step / sum(parts)`` batch by batch."""
    distill = times['distill_step'][warmup:]
    others = [times[name][warmup:] for name in parts]
    return [d / sum(o) for d, *o in zip(distill, *others)]


def format_table(result: dict) -> str:
    unit = 'MiB'
    header = (f'{"phase":<19}{"median ms":>11}{"p90 ms":>10}'
              f'{"cpu ms":>10}{"peak " + unit:>10}  what')
    lines = [header, '-' * len(header)]
    for name, stats in result['phases'].items():
        lines.append(f'{name:<19}{stats["median_ms"]:>11.2f}'
                     f'{stats["p90_ms"]:>10.2f}'
                     f'{stats["median_cpu_ms"]:>10.2f}'
                     f'{stats["peak_mem_mib"]:>10.1f}  '
                     f'{result["descriptions"][name]}')
    lines.append('-' * len(header))
    lines.append(f'compared ({result["model_kind"]}): {result["compared"]}')
    lines.append('(a), (b), (c) interleaved per batch in rotating order, '
                 'weights and optimizer restored before each training step')
    definition = result['ratio_definition']
    for key, clock in (('paired_ratio', 'wall'),
                       ('paired_ratio_cpu', 'thread cpu')):
        ratio = result[key]
        lines.append(
            f'{definition}, per batch, {clock}: median '
            f'{ratio["median"]:.3f} (IQR {ratio["q1"]:.3f}-'
            f'{ratio["q3"]:.3f}, {len(ratio["per_batch"])} batches)')
    lines.append(f'ratio of the medians (wall) = '
                 f'{result["overhead_ratio"]:.3f}')
    lines.append('cpu ms: time.thread_time() of the profiling thread (not '
                 'torch\'s worker threads nor the GPU)')
    lines.append(f'memory: {result["memory"]["description"]}')
    return '\n'.join(lines)


def _describe(model, wrapped, optim_wrapper):
    """Variants, phase descriptions, ratio parts and the comparison of
    ``model`` (a DistillModel or a model exposing DistillControls)."""
    def train(data):
        wrapped.train_step(data, optim_wrapper)

    # DistillModel's teacher runs in its distiller; a model of its own
    # may expose teacher_forward
    teacher_forward = model.distiller.teacher_forward if isinstance(
        model, DistillModel) else getattr(model, 'teacher_forward', None)

    def teacher(data):
        teacher_forward(_teacher_inputs(data), data['data_samples'])

    def preprocess(raw):
        return model.data_preprocessor(raw, True)

    if isinstance(model, DistillModel):
        def student(data):
            model.student.train_step(data, optim_wrapper)

        variants = OrderedDict(
            distill_step=Variant(train),
            student_step=Variant(student),
            teacher_inference=Variant(teacher, preprocess, trains=False))
        compared = ('(a) the distill step, (b) the student trained alone '
                    '(no teacher, no taps), (c) the teacher\'s forward to '
                    'its last tap')
        return (variants, PHASES, ('student_step', 'teacher_inference'),
                RATIO, 'DistillModel', compared)

    def switched(enabled: bool):
        def prepare(raw):
            model.distill_enabled = enabled
            return raw
        return prepare

    variants = OrderedDict(
        distill_step=Variant(train, switched(True)),
        student_step=Variant(train, switched(False)))
    compared = ('(a) the model\'s train_step, (b) its train_step with '
                'distill_enabled=False (what it trains without '
                'distillation; it may run its teacher, e.g. for pseudo '
                'labels)')
    phases = OrderedDict(OWN_MODEL_PHASES)
    if callable(teacher_forward):
        variants['teacher_inference'] = Variant(teacher, preprocess,
                                                trains=False)
        compared += ', (c) its teacher_forward, shown, not in the ratio'
    else:
        del phases['teacher_inference']
        compared += '; no teacher_forward: no (c)'
    return (variants, phases, ('student_step', ), OWN_MODEL_RATIO,
            f'{type(model).__name__}, a model of its own', compared)


def profile(cfg: Config, iters: int, warmup: int,
            train_first: int = 0) -> dict:
    """Profile the distill step of ``cfg``; see the module docstring.

    Args:
        cfg (Config): The training config.
        iters (int): Measured iterations per loop.
        warmup (int): Iterations run before measuring, in every loop.
        train_first (int): Training steps (``train_step`` of the wrapped
            model, distillation on) run before the weights and optimizer
            state are kept for restoring. Defaults to 0.
    """
    runner, optim_wrapper, loader = build_runner_parts(cfg)
    wrapped = runner.model
    model = wrapped.module if is_model_wrapper(wrapped) else wrapped
    if not (isinstance(model, DistillModel) or has_distill_controls(model)):
        raise TypeError(
            'distill_profile needs a DistillModel config or a model '
            'exposing distill_loss_scales / distill_enabled (see '
            'mmkd/models/distillers/protocol.py), got model type '
            f'{type(model).__name__} (a DistillHook run is not supported)')
    model.train()
    device = next(model.parameters()).device
    variants, phase_names, parts, ratio_definition, kind, compared = \
        _describe(model, wrapped, optim_wrapper)

    teacher_synced = getattr(model, 'teacher_synced', True)
    distill_enabled = model.distill_enabled
    if not teacher_synced:
        print_log(
            'the mean teacher has not been synced with the student; it is '
            'run as built (timings do not depend on its weights)',
            logger='current',
            level=logging.WARNING)
        model.teacher_synced = True
    model.distill_enabled = True
    data_iter = cycle(loader)
    for _ in range(train_first):
        wrapped.train_step(next(data_iter), optim_wrapper)

    # restore weights and optimizer state before every training step and
    # at the end
    model_state = copy.deepcopy(model.state_dict())
    optim_state = copy.deepcopy(optim_wrapper.state_dict())

    def restore():
        model.load_state_dict(model_state)
        optim_wrapper.load_state_dict(copy.deepcopy(optim_state))
        optim_wrapper.zero_grad()

    num = warmup + iters
    rec = Recorder(device)
    try:
        if isinstance(model, DistillModel):
            batches = profile_breakdown(model, optim_wrapper, data_iter,
                                        num, rec, restore)
            assert not model.student_taps.enabled
        else:
            batches = collect_batches(model, data_iter, num, rec)
        batch_size = _batch_size(batches[0]['inputs'])
        orders = profile_interleaved(batches, variants, rec, restore)
    finally:
        restore()
        if not teacher_synced:
            model.teacher_synced = teacher_synced
        model.distill_enabled = distill_enabled

    phases = OrderedDict(
        (name, rec.summary(name, warmup)) for name in phase_names)
    ratio = phases['distill_step']['median_ms'] / sum(
        phases[name]['median_ms'] for name in parts)
    return dict(
        device=str(device),
        torch_threads=torch.get_num_threads(),
        batch_size=batch_size,
        iters=iters,
        warmup=warmup,
        train_first=train_first,
        model_kind=kind,
        compared=compared,
        memory=dict(
            kind=rec.memory.kind,
            unit='MiB',
            description=rec.memory.description),
        phases=phases,
        descriptions=dict(phase_names),
        overhead_ratio=ratio,
        ratio_definition=ratio_definition,
        paired_ratio=spread(paired_ratios(rec.times, parts, warmup)),
        paired_ratio_cpu=spread(paired_ratios(rec.cpu_times, parts, warmup)),
        variant_order=orders)


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    cfg.launcher = 'none'
    # keep the Runner's config and hook dumps out of the report
    cfg.log_level = 'WARNING'
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)

    with contextlib.ExitStack() as stack:
        if args.work_dir is not None:
            cfg.work_dir = args.work_dir
        else:
            cfg.work_dir = stack.enter_context(
                tempfile.TemporaryDirectory(prefix='distill_profile_'))
        result = profile(cfg, args.iters, args.warmup, args.train_first)
    result = OrderedDict(config=osp.abspath(args.config), **result)

    print(f'config:        {result["config"]}')
    print(f'device:        {result["device"]}')
    print(f'torch threads: {result["torch_threads"]}')
    print(f'batch size:    {result["batch_size"]}')
    print(f'iterations:    {args.iters} measured after {args.warmup} '
          'warm-up, per variant' +
          (f', from the weights after {args.train_first} training steps'
           if args.train_first else ''))
    print(format_table(result))
    if args.out is not None:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=2)
        print(f'results written to {args.out}')
    return result


if __name__ == '__main__':
    main()
