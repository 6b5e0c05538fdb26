# Copyright (c) mmkd contributors. All rights reserved.
"""UniDistill's SimScenes experiment: students with and without a teacher
of another modality.

For each requested path (``student-teacher``: camera-lidar, camera-fusion,
lidar-camera, lidar-fusion) the teacher is trained once (``--teacher-seed``)
and, for every seed, the student's baseline (its config alone) and the
distilled student (the path's UniDistill config with that teacher) are
trained with the same seed. Runs use the user-facing ``tools/train.py`` /
``tools/test.py`` and are reused when finished. NuScenesMetric mAP and NDS
on SimScenes val (per seed, mean and standard deviation) are printed as a
markdown table and written to ``<work-dir>/benchmark.json``.

Example:
    python tools/analysis_tools/benchmark_unidistill.py --paths camera-lidar \
        --seeds 0 1 2
"""
import argparse
import json
import os.path as osp
import sys

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import demo  # noqa: E402  (tools/demo.py: train/test runners)

CONFIGS = 'configs/unidistill/'
MODELS = dict(
    lidar=CONFIGS + 'bev-lidar_pillar08_second-secfpn_20e_simscenes.py',
    camera=CONFIGS + 'bev-camera_r18-lss_second-secfpn_20e_simscenes.py',
    fusion=CONFIGS +
    'bev-fusion_r18-lss_pillar08_second-secfpn_20e_simscenes.py')
PATHS = ('camera-lidar', 'camera-fusion', 'lidar-camera', 'lidar-fusion')
PREFIX = 'NuScenes metric/pred_instances_3d_NuScenes/'
METRICS = ('mAP', 'NDS')


def distill_config(student: str, teacher: str) -> str:
    return (f'{CONFIGS}unidistill_bev-{teacher}_bev-{student}_20e_'
            'simscenes.py')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--paths', nargs='+', choices=PATHS,
                        default=['camera-lidar'])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--teacher-seed', type=int, default=0)
    parser.add_argument('--work-dir', default='work_dirs/benchmark_unidistill')
    parser.add_argument(
        '--teacher-ckpt',
        nargs='+',
        default=[],
        metavar='MODALITY=PATH',
        help='use these teacher checkpoints instead of training them')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        default=[],
        help='key=value overrides of every run (e.g. train_cfg.max_epochs)')
    return parser.parse_args(argv)


def summarise(values):
    values = np.array(values) * 100
    return dict(
        per_seed=values.round(2).tolist(),
        mean=float(values.mean()),
        std=float(values.std(ddof=1)) if len(values) > 1 else 0.0)


def scores(metrics: dict) -> dict:
    return {m: metrics[PREFIX + m] for m in METRICS}


def main(argv=None):
    args = parse_args(argv)
    options = list(args.cfg_options)
    given = dict(item.split('=', 1) for item in args.teacher_ckpt)
    paths = [p.split('-') for p in args.paths]

    teachers = {}
    for modality in sorted({t for _, t in paths}):
        work_dir = osp.join(args.work_dir, f'teacher_{modality}')
        ckpt = given.get(modality) or demo.train(
            MODELS[modality], work_dir, args.teacher_seed, options)
        teachers[modality] = dict(
            ckpt=ckpt,
            **scores(demo.test(MODELS[modality], ckpt, work_dir, options)))

    runs = {}
    for seed in args.seeds:
        for student in dict.fromkeys(s for s, _ in paths):
            work_dir = osp.join(args.work_dir, f'seed{seed}',
                                f'{student}_alone')
            ckpt = demo.train(MODELS[student], work_dir, seed, options)
            runs.setdefault(f'{student} alone', []).append(
                scores(demo.test(MODELS[student], ckpt, work_dir, options)))
        for student, teacher in paths:
            config = distill_config(student, teacher)
            work_dir = osp.join(args.work_dir, f'seed{seed}',
                                f'{student}_from_{teacher}')
            run_options = options + [
                f'model.teacher_ckpt={teachers[teacher]["ckpt"]}'
            ]
            ckpt = demo.train(config, work_dir, seed, run_options)
            runs.setdefault(f'{student} <- {teacher}', []).append(
                scores(demo.test(config, ckpt, work_dir, run_options)))

    rows = {
        name: {m: summarise([r[m] for r in results])
               for m in METRICS}
        for name, results in runs.items()
    }
    result = dict(
        seeds=args.seeds,
        teacher_seed=args.teacher_seed,
        teachers=teachers,
        options=options,
        configs=dict(MODELS, **{
            f'{s}-{t}': distill_config(s, t)
            for s, t in paths
        }),
        results=rows)
    with open(osp.join(args.work_dir, 'benchmark.json'), 'w') as f:
        json.dump(result, f, indent=2)
    print(f'\nSimScenes val, NuScenesMetric (%), seeds {args.seeds}; '
          f'teachers (seed {args.teacher_seed}): ' + ', '.join(
              f'{m} mAP {t["mAP"] * 100:.2f} NDS {t["NDS"] * 100:.2f}'
              for m, t in teachers.items()) + '\n')
    print('| model | ' + ' | '.join(f'mAP seed {s}' for s in args.seeds) +
          ' | mAP | ' + ' | '.join(f'NDS seed {s}' for s in args.seeds) +
          ' | NDS |')
    print('|---' * (2 * len(args.seeds) + 3) + '|')
    for name, row in rows.items():
        cells = []
        for m in METRICS:
            cells += [f'{v:.2f}' for v in row[m]['per_seed']]
            cells.append(f'{row[m]["mean"]:.2f} +- {row[m]["std"]:.2f}')
        print(f'| {name} | ' + ' | '.join(cells) + ' |')


if __name__ == '__main__':
    main()
