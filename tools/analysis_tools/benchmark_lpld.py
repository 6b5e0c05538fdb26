# Copyright (c) mmkd contributors. All rights reserved.
"""LPLD's DigitScenes experiment: clean -> shifted source-free adaptation.

One source model (Faster R-CNN R18-FPN on the labelled clean domain, seed of
the first run) is trained and evaluated on the shifted val set (the
source-only row) and on the clean val set (for the size of the domain gap).
Then, for every seed, the mean-teacher baseline on high-confidence pseudo
labels only (HPL) and LPLD adapt it with the unlabelled shifted train
images. Each run uses the user-facing ``tools/train.py`` / ``tools/test.py``
and is reused when finished. COCO AP50 (%) on the shifted val set (mean and
standard deviation over seeds) is printed as a markdown table and written
with the per-seed numbers to ``<work-dir>/benchmark.json``.

Example:
    python tools/analysis_tools/benchmark_lpld.py --seeds 0 1 2
"""
import argparse
import json
import os.path as osp
import sys

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import demo  # noqa: E402  (tools/demo.py: train/test runners)

CONFIGS = 'configs/lpld/'
SOURCE = (CONFIGS +
          'source_faster-rcnn_r18_fpn_3k_digit-scenes-clean2shifted.py')
ADAPT = dict(
    hpl=CONFIGS + 'hpl_faster-rcnn_r18_fpn_digit-scenes-clean2shifted.py',
    lpld=CONFIGS + 'lpld_faster-rcnn_r18_fpn_digit-scenes-clean2shifted.py')
METRIC = 'coco/bbox_mAP_50'
CLEAN_VAL = [
    'test_dataloader.dataset.data_root=data/digit_scenes/',
    'test_dataloader.dataset.generate_cfg.domain=clean',
    'test_evaluator.ann_file=data/digit_scenes/annotations/'
    'instances_val.json'
]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--work-dir', default='work_dirs/benchmark_lpld')
    parser.add_argument(
        '--source-ckpt',
        help='use this source checkpoint instead of training one')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        default=[],
        help='extra key=value overrides of the adaptation runs')
    return parser.parse_args(argv)


def summarise(values):
    values = np.array(values) * 100
    return dict(
        per_seed=values.round(2).tolist(),
        mean=float(values.mean()),
        std=float(values.std(ddof=1)) if len(values) > 1 else 0.0)


def main(argv=None):
    args = parse_args(argv)
    source_dir = osp.join(args.work_dir, 'source')
    source_ckpt = args.source_ckpt or demo.train(SOURCE, source_dir,
                                                 args.seeds[0], [])
    shifted = demo.test(SOURCE, source_ckpt, source_dir, [])[METRIC]
    clean = demo.test(SOURCE, source_ckpt, osp.join(source_dir, 'clean'),
                      CLEAN_VAL)[METRIC]
    options = [f'model.source_ckpt={source_ckpt}', *args.cfg_options]
    runs = {name: [] for name in ADAPT}
    for seed in args.seeds:
        for name, config in ADAPT.items():
            work_dir = osp.join(args.work_dir, f'seed{seed}', name)
            ckpt = demo.train(config, work_dir, seed, options)
            runs[name].append(demo.test(config, ckpt, work_dir,
                                        options)[METRIC])
    rows = {'source only': summarise([shifted] * len(args.seeds))}
    rows.update({name: summarise(values) for name, values in runs.items()})
    result = dict(
        seeds=args.seeds,
        source_seed=args.seeds[0],
        source_ckpt=source_ckpt,
        source_clean_ap50=clean * 100,
        configs=dict(source=SOURCE, **ADAPT),
        options=options,
        ap50=rows)
    with open(osp.join(args.work_dir, 'benchmark.json'), 'w') as f:
        json.dump(result, f, indent=2)
    print(f'\nDigitScenes shifted val, COCO AP50 (%), seeds {args.seeds} '
          f'(one source model, seed {args.seeds[0]}; on clean val it scores '
          f'{clean * 100:.2f}):\n')
    print('| model | ' + ' | '.join(f'seed {s}' for s in args.seeds) +
          ' | mean +- std |')
    print('|---' * (len(args.seeds) + 2) + '|')
    for name, row in rows.items():
        cells = [f'{v:.2f}' for v in row['per_seed']]
        print(f'| {name} | ' + ' | '.join(cells) +
              f' | {row["mean"]:.2f} +- {row["std"]:.2f} |')


if __name__ == '__main__':
    main()
