# Copyright (c) mmkd contributors. All rights reserved.
"""Profile where the time and memory of a distillation step go.

Builds the Runner's model, optimizer wrapper and train dataloader from a
DistillModel config and times, over the same batches:

* a breakdown of the distill step: ``data`` (next batch and the data
  preprocessor), ``teacher_forward``, ``student_forward`` (the student's
  loss forward with its taps on), ``distill_loss``, ``backward`` (of the
  student's own plus the distill losses) and ``optim_step``;
* three reference quantities, each in its own loop: ``distill_step``
  (``model.train_step``, what the Runner runs), ``student_step`` (the
  student trained alone: its ``train_step`` with taps off and no teacher)
  and ``teacher_inference`` (``teacher_forward`` on preprocessed inputs).

The overhead ratio is ``distill_step / (student_step + teacher_inference)``
of the medians: 1.0 means distilling costs exactly a student step plus a
teacher forward. Weights and optimizer state are restored before every
loop and at the end, so each loop starts from the same model.

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
from typing import Callable, Dict, List, Optional

import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

import mmkd  # noqa: F401  (registries, torch.load allow-list)

#: phase name -> what it measures, in the order of the table
PHASES = OrderedDict([
    ('data', 'next batch + data_preprocessor'),
    ('teacher_forward', 'teacher_forward (no_grad, to its last tap)'),
    ('student_forward', 'student loss forward, taps on'),
    ('distill_loss', 'compute_distill_losses + parse_losses'),
    ('backward', 'backward of student + distill losses'),
    ('student_fwd_bwd', 'student_forward + backward'),
    ('optim_step', 'optimizer step + zero_grad'),
    ('distill_step', '(a) model.train_step, own loop'),
    ('student_step', '(b) student.train_step, no teacher'),
    ('teacher_inference', '(c) teacher_forward alone'),
])
RATIO = 'distill_step / (student_step + teacher_inference)'
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
    parser.add_argument('--out', help='write the results to this json file')
    args = parser.parse_args(argv)
    if args.iters < 1 or args.warmup < 0:
        parser.error('--iters must be >= 1 and --warmup >= 0')
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
    """Collect per-iteration times (ms) and peak memory (MiB) per phase.

    Args:
        device (torch.device): The model's device; CUDA is synchronized
            before every clock reading.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.memory = PeakMemory(device)
        self.times: Dict[str, List[float]] = defaultdict(list)
        self.mems: Dict[str, List[float]] = defaultdict(list)

    def now(self) -> float:
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def add(self, name: str, seconds: float, mem: float) -> None:
        self.times[name].append(seconds * 1e3)
        self.mems[name].append(mem)

    @contextlib.contextmanager
    def phase(self, name: str):
        """Time and measure the body of a ``with`` block as ``name``."""
        self.memory.start()
        start = self.now()
        yield
        seconds = self.now() - start
        self.add(name, seconds, self.memory.peak())

    def summary(self, name: str, warmup: int) -> dict:
        times = self.times[name][warmup:]
        return dict(
            median_ms=float(np.median(times)),
            p90_ms=float(np.percentile(times, 90)),
            mean_ms=float(np.mean(times)),
            peak_mem_mib=float(max(self.mems[name][warmup:])),
            times_ms=[float(t) for t in times])


def build_runner_parts(cfg: Config):
    """Build the Runner, its optimizer wrapper and train dataloader."""
    runner = Runner.from_cfg(cfg)
    runner.optim_wrapper = runner.build_optim_wrapper(cfg.optim_wrapper)
    loader = runner.build_dataloader(cfg.train_dataloader, seed=runner.seed)
    return runner, runner.optim_wrapper, loader


def _teacher_inputs(data: dict):
    teacher_inputs = data.get('teacher_inputs')
    return data['inputs'] if teacher_inputs is None else teacher_inputs


def _batch_size(inputs) -> int:
    if isinstance(inputs, torch.Tensor):
        return int(inputs.shape[0])
    if isinstance(inputs, dict):  # e.g. mmdet3d's dict(points=[...])
        return _batch_size(next(iter(inputs.values())))
    return len(inputs)


def profile_breakdown(model, optim_wrapper, data_iter, num: int,
                      rec: Recorder) -> list:
    """Run ``num`` distill steps phase by phase; return the raw batches."""
    batches = []
    for _ in range(num):
        rec.memory.start()
        start = rec.now()
        raw = next(data_iter)
        load = rec.now() - start
        batches.append(copy.deepcopy(raw))  # untimed: pristine for reuse
        start = rec.now()
        data = model.data_preprocessor(raw, True)
        rec.add('data', load + rec.now() - start, rec.memory.peak())

        inputs, data_samples = data['inputs'], data['data_samples']
        with rec.phase('teacher_forward'):
            teacher_feats = model.teacher_forward(
                _teacher_inputs(data), data_samples)
        with rec.phase('student_forward'), \
                optim_wrapper.optim_context(model):
            losses, student_feats = model.student_forward(
                inputs, data_samples)
        with rec.phase('distill_loss'):
            losses.update(
                model.compute_distill_losses(student_feats, teacher_feats,
                                             data_samples))
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
                max(rec.mems[name][-1] for name in fwd_bwd))
        del data, losses, loss, teacher_feats, student_feats
    return batches


def profile_loop(name: str,
                 batches: list,
                 step: Callable[[dict], None],
                 rec: Recorder,
                 prepare: Optional[Callable[[dict], dict]] = None) -> None:
    """Time ``step`` on a copy of each batch, ``prepare`` untimed."""
    for raw in batches:
        data = copy.deepcopy(raw)
        if prepare is not None:
            data = prepare(data)
        with rec.phase(name):
            step(data)
        del data


def format_table(result: dict) -> str:
    unit = 'MiB'
    header = (f'{"phase":<19}{"median ms":>11}{"p90 ms":>10}'
              f'{"peak " + unit:>10}  what')
    lines = [header, '-' * len(header)]
    for name, desc in PHASES.items():
        stats = result['phases'][name]
        lines.append(f'{name:<19}{stats["median_ms"]:>11.2f}'
                     f'{stats["p90_ms"]:>10.2f}'
                     f'{stats["peak_mem_mib"]:>10.1f}  {desc}')
    lines.append('-' * len(header))
    lines.append(f'overhead ratio {RATIO} = {result["overhead_ratio"]:.3f}')
    lines.append(f'memory: {result["memory"]["description"]}')
    return '\n'.join(lines)


def profile(cfg: Config, iters: int, warmup: int) -> dict:
    """Profile the distill step of ``cfg``; see the module docstring."""
    runner, optim_wrapper, loader = build_runner_parts(cfg)
    wrapped = runner.model
    model = wrapped.module if is_model_wrapper(wrapped) else wrapped
    if not hasattr(model, 'teacher_forward'):
        raise TypeError('distill_profile needs a DistillModel config, got '
                        f'model type {type(model).__name__}')
    model.train()
    device = next(model.parameters()).device

    # restore weights and optimizer state before every loop and at the end
    model_state = copy.deepcopy(model.state_dict())
    optim_state = copy.deepcopy(optim_wrapper.state_dict())
    teacher_synced = model.teacher_synced
    distill_enabled = model.distill_enabled

    def restore():
        model.load_state_dict(model_state)
        optim_wrapper.load_state_dict(copy.deepcopy(optim_state))
        optim_wrapper.zero_grad()

    if not teacher_synced:
        print_log(
            'the mean teacher has not been synced with the student; it is '
            'run as built (timings do not depend on its weights)',
            logger='current',
            level=logging.WARNING)
        model.teacher_synced = True
    model.distill_enabled = True
    num = warmup + iters
    rec = Recorder(device)
    try:
        batches = profile_breakdown(model, optim_wrapper, iter(loader), num,
                                    rec)
        batch_size = _batch_size(batches[0]['inputs'])

        restore()
        profile_loop('distill_step', batches,
                     lambda data: wrapped.train_step(data, optim_wrapper), rec)

        restore()
        assert not model.student_taps.enabled
        profile_loop(
            'student_step', batches,
            lambda data: model.student.train_step(data, optim_wrapper), rec)

        def teacher(data):
            model.teacher_forward(_teacher_inputs(data), data['data_samples'])

        profile_loop('teacher_inference', batches, teacher, rec,
                     lambda raw: model.data_preprocessor(raw, True))
    finally:
        restore()
        model.teacher_synced = teacher_synced
        model.distill_enabled = distill_enabled

    phases = OrderedDict((name, rec.summary(name, warmup)) for name in PHASES)
    ratio = phases['distill_step']['median_ms'] / (
        phases['student_step']['median_ms'] +
        phases['teacher_inference']['median_ms'])
    return dict(
        device=str(device),
        torch_threads=torch.get_num_threads(),
        batch_size=batch_size,
        iters=iters,
        warmup=warmup,
        memory=dict(
            kind=rec.memory.kind,
            unit='MiB',
            description=rec.memory.description),
        phases=phases,
        overhead_ratio=ratio,
        ratio_definition=RATIO)


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
        result = profile(cfg, args.iters, args.warmup)
    result = OrderedDict(config=osp.abspath(args.config), **result)

    print(f'config:        {result["config"]}')
    print(f'device:        {result["device"]}')
    print(f'torch threads: {result["torch_threads"]}')
    print(f'batch size:    {result["batch_size"]}')
    print(f'iterations:    {args.iters} measured after {args.warmup} '
          'warm-up, per loop')
    print(format_table(result))
    if args.out is not None:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=2)
        print(f'results written to {args.out}')
    return result


if __name__ == '__main__':
    main()
