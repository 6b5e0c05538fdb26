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
markdown table and written to ``<work-dir>/benchmark.json``. With
``--heldout ROOT`` every checkpoint is also tested on the val split of
another SimScenes root (scenes generated with another seed), which no
setting was chosen on.

Example:
    python tools/analysis_tools/benchmark_unidistill.py --paths camera-lidar \
        --seeds 0 1 2 --heldout data/simscenes_heldout
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
    parser.add_argument(
        '--heldout',
        metavar='ROOT',
        help='also test every checkpoint on the val split of this SimScenes '
        'root (tools/dataset_converters/sim_scenes.py ROOT --seed S)')
    return parser.parse_args(argv)


def heldout_options(root: str) -> list:
    """Overrides that point the test split at another SimScenes root."""
    root = root.rstrip('/') + '/'
    ann_file = root + 'simscenes_infos_val.pkl'
    if not osp.isfile(ann_file):
        raise FileNotFoundError(
            f'--heldout {root}: {ann_file} not found; generate it with '
            f'python tools/dataset_converters/sim_scenes.py {root} --seed S')
    return [
        f'test_dataloader.dataset.data_root={root}',
        f'test_evaluator.data_root={root}',
        f'test_evaluator.ann_file={ann_file}'
    ]


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
    splits = dict(val=[])
    if args.heldout:
        splits['heldout'] = heldout_options(args.heldout)

    def evaluate(config, ckpt, work_dir, run_options):
        """Scores of ``ckpt`` per split."""
        return {
            split: scores(
                demo.test(config, ckpt,
                          work_dir if split == 'val' else osp.join(
                              work_dir, split), run_options + split_options))
            for split, split_options in splits.items()
        }

    given = dict(item.split('=', 1) for item in args.teacher_ckpt)
    paths = [p.split('-') for p in args.paths]

    teachers = {}
    for modality in sorted({t for _, t in paths}):
        work_dir = osp.join(args.work_dir, f'teacher_{modality}')
        ckpt = given.get(modality) or demo.train(
            MODELS[modality], work_dir, args.teacher_seed, options)
        teachers[modality] = dict(
            ckpt=ckpt, **evaluate(MODELS[modality], ckpt, work_dir, options))

    runs = {}
    for seed in args.seeds:
        for student in dict.fromkeys(s for s, _ in paths):
            work_dir = osp.join(args.work_dir, f'seed{seed}',
                                f'{student}_alone')
            ckpt = demo.train(MODELS[student], work_dir, seed, options)
            runs.setdefault(f'{student} alone', []).append(
                evaluate(MODELS[student], ckpt, work_dir, options))
        for student, teacher in paths:
            config = distill_config(student, teacher)
            work_dir = osp.join(args.work_dir, f'seed{seed}',
                                f'{student}_from_{teacher}')
            run_options = options + [
                f'model.teacher_ckpt={teachers[teacher]["ckpt"]}'
            ]
            ckpt = demo.train(config, work_dir, seed, run_options)
            runs.setdefault(f'{student} <- {teacher}', []).append(
                evaluate(config, ckpt, work_dir, run_options))

    rows = {
        split: {
            name: {
                m: summarise([r[split][m] for r in results])
                for m in METRICS
            }
            for name, results in runs.items()
        }
        for split in splits
    }
    result = dict(
        seeds=args.seeds,
        teacher_seed=args.teacher_seed,
        teachers=teachers,
        options=options,
        heldout=args.heldout,
        configs=dict(MODELS, **{
            f'{s}-{t}': distill_config(s, t)
            for s, t in paths
        }),
        results=rows)
    with open(osp.join(args.work_dir, 'benchmark.json'), 'w') as f:
        json.dump(result, f, indent=2)
    for split in splits:
        data = 'val' if split == 'val' else f'{args.heldout} val'
        print(f'\nSimScenes {data}, NuScenesMetric (%), seeds {args.seeds}; '
              f'teachers (seed {args.teacher_seed}): ' + ', '.join(
                  f'{m} mAP {t[split]["mAP"] * 100:.2f} '
                  f'NDS {t[split]["NDS"] * 100:.2f}'
                  for m, t in teachers.items()) + '\n')
        print_table(rows[split], args.seeds)


def print_table(rows: dict, seeds: list):
    print('| model | ' + ' | '.join(f'mAP seed {s}' for s in seeds) +
          ' | mAP | ' + ' | '.join(f'NDS seed {s}' for s in seeds) +
          ' | NDS |')
    print('|---' * (2 * len(seeds) + 3) + '|')
    for name, row in rows.items():
        cells = []
        for m in METRICS:
            cells += [f'{v:.2f}' for v in row[m]['per_seed']]
            cells.append(f'{row[m]["mean"]:.2f} +- {row[m]["std"]:.2f}')
        print(f'| {name} | ' + ' | '.join(cells) + ' |')


if __name__ == '__main__':
    main()
