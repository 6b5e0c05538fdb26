# Copyright (c) mmkd contributors. All rights reserved.
"""Compare distillation methods on the demo's DigitScenes pair over seeds.

One teacher is trained (seed of the first run) and shared; the student
baseline and each distilled student (``--distill-configs NAME=CONFIG``,
default: the demo's BPKD and CWD configs) are trained once per seed with
``tools/train.py`` and evaluated with ``tools/test.py``. Mean and standard
deviation of val mIoU and mean Boundary IoU (mBIoU) are printed as a
markdown table and written with the per-seed numbers to
``<work-dir>/benchmark.json``. Finished runs are reused.

Example:
    python tools/analysis_tools/benchmark_demo.py --seeds 0 1 2
"""
import argparse
import json
import os.path as osp
import sys

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import demo  # noqa: E402  (tools/demo.py)

CWD = 'configs/cwd/cwd_logits_fcn-r18w32_fcn-r18w8_2k_digit-scenes-128x128.py'
METRICS = ('mIoU', 'mBIoU')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--work-dir', default='work_dirs/benchmark_demo')
    parser.add_argument(
        '--distill-configs',
        nargs='+',
        default=[f'bpkd={demo.DISTILL}', f'cwd={CWD}'],
        help='NAME=CONFIG pairs of distillation configs')
    parser.add_argument('--cfg-options', nargs='+', default=[])
    return parser.parse_args(argv)


def _named(pairs):
    named = {}
    for pair in pairs:
        name, sep, config = pair.partition('=')
        if not sep or name in ('teacher', 'student'):
            raise ValueError(f'--distill-configs takes NAME=CONFIG with a '
                             f'name other than teacher/student, got {pair!r}')
        named[name] = config
    return named


def run_seed(seed, work_dir, configs, teacher_ckpt, options):
    """Train and test the student and every distilled student of a seed
    (and the teacher, when ``teacher_ckpt`` is None); return metrics and
    the teacher checkpoint."""
    dirs = {name: osp.join(work_dir, f'seed{seed}', name)
            for name in ['teacher', 'student', *configs]}
    results = {}
    if teacher_ckpt is None:
        teacher_ckpt = demo.train(demo.TEACHER, dirs['teacher'], seed,
                                  options)
        results['teacher'] = demo.test(demo.TEACHER, teacher_ckpt,
                                       dirs['teacher'], options)
    ckpt = demo.train(demo.STUDENT, dirs['student'], seed, options)
    results['student'] = demo.test(demo.STUDENT, ckpt, dirs['student'],
                                   options)
    distill_options = options + [f'model.teacher_ckpt={teacher_ckpt}']
    for name, config in configs.items():
        ckpt = demo.train(config, dirs[name], seed, distill_options)
        results[name] = demo.test(config, ckpt, dirs[name], distill_options)
    return results, teacher_ckpt


def main(argv=None):
    args = parse_args(argv)
    configs = _named(args.distill_configs)
    per_seed, teacher_ckpt = {}, None
    for seed in args.seeds:
        per_seed[seed], teacher_ckpt = run_seed(seed, args.work_dir, configs,
                                                teacher_ckpt,
                                                list(args.cfg_options))
    rows = {}
    for name in ['teacher', 'student', *configs]:
        runs = [per_seed[s][name] for s in args.seeds if name in per_seed[s]]
        rows[name] = {}
        for metric in METRICS:
            values = np.array([r[metric] for r in runs])
            rows[name][metric] = dict(
                per_seed=values.tolist(),
                mean=float(values.mean()),
                std=float(values.std(ddof=1)) if len(values) > 1 else 0.0)
    result = dict(
        seeds=args.seeds,
        teacher_seed=args.seeds[0],
        distill_configs=configs,
        metrics=rows)
    with open(osp.join(args.work_dir, 'benchmark.json'), 'w') as f:
        json.dump(result, f, indent=2)
    print(f'\nDigitScenes val (%), seeds {args.seeds} (one teacher, seed '
          f'{args.seeds[0]}):\n')
    print('| model | ' + ' | '.join(
        f'{m} seed {s}' for m in METRICS for s in args.seeds) +
          ' | mIoU mean +- std | mBIoU mean +- std |')
    print('|---' * (len(METRICS) * len(args.seeds) + 3) + '|')
    for name, row in rows.items():
        cells = [f'{v:.2f}' for m in METRICS for v in row[m]['per_seed']]
        if name == 'teacher':  # one run, shown under the first seed
            cells = [
                f'{row[m]["per_seed"][0]:.2f}' if i == 0 else ''
                for m in METRICS for i in range(len(args.seeds))
            ]
        print(f'| {name} | ' + ' | '.join(cells) + ' | ' + ' | '.join(
            f'{row[m]["mean"]:.2f} +- {row[m]["std"]:.2f}'
            for m in METRICS) + ' |')


if __name__ == '__main__':
    main()
