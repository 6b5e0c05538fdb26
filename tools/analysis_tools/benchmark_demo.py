# Copyright (c) mmkd contributors. All rights reserved.
"""Run the demo over several seeds and compare student and distilled student.

One teacher is trained (seed of the first run) and shared; the student
baseline and the distilled student are trained once per seed. The mean and
standard deviation of val mIoU are printed as a markdown table and written
with the per-seed numbers to ``<work-dir>/benchmark.json``.

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


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--work-dir', default='work_dirs/benchmark_demo')
    parser.add_argument('--distill-config', default=demo.DISTILL)
    parser.add_argument('--cfg-options', nargs='+', default=[])
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    per_seed = {}
    teacher_ckpt = None
    for seed in args.seeds:
        run_args = demo.parse_args([
            '--seed', str(seed), '--work-dir',
            osp.join(args.work_dir, f'seed{seed}'), '--distill-config',
            args.distill_config
        ] + (['--teacher-ckpt', teacher_ckpt] if teacher_ckpt else []) +
                                   (['--cfg-options', *args.cfg_options]
                                    if args.cfg_options else []))
        per_seed[seed] = demo.run_demo(run_args)
        if teacher_ckpt is None:
            teacher_ckpt = osp.join(
                args.work_dir, f'seed{seed}', 'teacher',
                f'iter_{demo._max_iters(demo.TEACHER, args.cfg_options)}.pth')
    rows = {}
    for name in ('teacher', 'student', 'distilled'):
        values = np.array([per_seed[s][name]['mIoU'] for s in args.seeds])
        rows[name] = dict(
            per_seed=values.tolist(),
            mean=float(values.mean()),
            std=float(values.std(ddof=1)) if len(values) > 1 else 0.0)
    gain = rows['distilled']['mean'] - rows['student']['mean']
    result = dict(
        seeds=args.seeds,
        distill_config=args.distill_config,
        miou=rows,
        gain=gain)
    with open(osp.join(args.work_dir, 'benchmark.json'), 'w') as f:
        json.dump(result, f, indent=2)
    print(f'\nDigitScenes val mIoU (%), seeds {args.seeds}:\n')
    print('| model | ' + ' | '.join(f'seed {s}' for s in args.seeds) +
          ' | mean | std |')
    print('|---' * (len(args.seeds) + 3) + '|')
    for name, row in rows.items():
        print(f'| {name} | ' + ' | '.join(f'{v:.2f}'
                                          for v in row['per_seed']) +
              f' | {row["mean"]:.2f} | {row["std"]:.2f} |')
    print(f'\ndistilled - student (mean): {gain:+.2f} mIoU')


if __name__ == '__main__':
    main()
