# Copyright (c) mmkd contributors. All rights reserved.
"""Time the training step of several configs on the same batches.

Each config is built with ``Runner.from_cfg``; the same pre-loaded batches
(from the first config's training dataloader) feed ``model.train_step`` of
every model, after the same warm-up, and the medians are printed. Used to
compare mmkd's distillation step with the student's own step, with a bf16
or cached teacher, and with other toolkits' implementations of the same
method (e.g. MMRazor, whose configs then need MMRazor installed).

Example (the commands behind docs/benchmarks.md are written there):
    python tools/analysis_tools/compare_step_time.py \\
        student=STUDENT_CONFIG mmkd=DISTILL_CONFIG \\
        --iters 30 --warmup 5 --cfg-options mmkd:model.teacher_ckpt=T.pth
"""
import argparse
import copy
import json
import logging
import tempfile
import time

import numpy as np
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.runner import Runner

import mmkd  # noqa: F401  (registries, torch.load allow-list)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'configs', nargs='+', help='NAME=CONFIG pairs, timed in this order')
    parser.add_argument('--iters', type=int, default=30)
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        default=[],
        help='NAME:key=value overrides of one config')
    parser.add_argument('--out', help='write the medians to this json')
    return parser.parse_args(argv)


def _parse_value(text):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def build(config: str, options: dict):
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(options)
    cfg.work_dir = tempfile.mkdtemp()
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    optim_wrapper = runner.build_optim_wrapper(cfg.optim_wrapper)
    runner.model.train()
    return runner, optim_wrapper


def time_steps(model, optim_wrapper, batches, warmup):
    times = []
    for i, batch in enumerate(batches):
        data = copy.deepcopy(batch)
        start = time.perf_counter()
        model.train_step(data, optim_wrapper)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e3), float(np.percentile(times, 90) *
                                                 1e3)


def main(argv=None):
    args = parse_args(argv)
    named = [c.split('=', 1) for c in args.configs]
    options = {name: {} for name, _ in named}
    for opt in args.cfg_options:
        name, kv = opt.split(':', 1)
        key, value = kv.split('=', 1)
        options[name][key] = _parse_value(value)
    batches = None
    results = {}
    for name, config in named:
        runner, optim_wrapper = build(config, options[name])
        if batches is None:
            loader = runner.build_dataloader(runner.cfg.train_dataloader)
            it = iter(loader)
            batches = [next(it) for _ in range(args.warmup + args.iters)]
        median, p90 = time_steps(runner.model, optim_wrapper, batches,
                                 args.warmup)
        results[name] = dict(config=config, median_ms=median, p90_ms=p90)
        MMLogger.get_current_instance().setLevel(logging.WARNING)
        del runner, optim_wrapper
    print(f'{"name":<16}{"median ms":>10}{"p90 ms":>10}  config')
    for name, r in results.items():
        print(f'{name:<16}{r["median_ms"]:>10.2f}{r["p90_ms"]:>10.2f}  '
              f'{r["config"]}')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(results, f, indent=2)
    return results


if __name__ == '__main__':
    main()
