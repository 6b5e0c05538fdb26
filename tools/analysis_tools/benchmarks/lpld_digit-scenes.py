# Copyright (c) mmkd contributors. All rights reserved.
"""LPLD's DigitScenes experiment: clean -> shifted source-free adaptation.

One source model (Faster R-CNN R18-FPN on the labelled clean domain) is
trained once (seed ``fixed_seed``); the source-only row tests it. For every
seed, the mean-teacher baseline on high-confidence pseudo labels only (HPL)
and LPLD adapt it with the unlabelled shifted train images. COCO AP50 (%)
on the shifted val set, on a held-out shifted set of new scenes (another
generator seed, generated on first use) and on the clean val set (the size
of the domain gap, and what adaptation forgets).

    python tools/analysis_tools/benchmark.py lpld_digit-scenes --seeds 0 1 2
"""
from benchmark import BenchmarkSpec, Gate, Metric, Row, Split

CONFIGS = 'configs/lpld/'
SOURCE = (
    CONFIGS + 'source_faster-rcnn_r18_fpn_3k_digit-scenes-clean2shifted.py')
HPL = CONFIGS + 'hpl_faster-rcnn_r18_fpn_digit-scenes-clean2shifted.py'
LPLD = CONFIGS + 'lpld_faster-rcnn_r18_fpn_digit-scenes-clean2shifted.py'
HELDOUT_ROOT = 'data/digit_scenes_shifted_heldout/'
HELDOUT_SEED = 100

SPEC = BenchmarkSpec(
    title='LPLD on DigitScenes clean -> shifted, COCO AP50 (%)',
    rows=[
        Row('source', SOURCE, per_seed=False, report=False),
        Row('source_only',
            SOURCE,
            test_only=True,
            checkpoint='source',
            gate=True,
            label='source only'),
        Row('hpl',
            HPL,
            teacher='source',
            teacher_key='model.source_ckpt',
            baseline='source_only',
            label='HPL-only mean teacher'),
        Row('lpld',
            LPLD,
            teacher='source',
            teacher_key='model.source_ckpt',
            baseline='hpl',
            label='LPLD'),
    ],
    seeds=[0, 1, 2],
    fixed_seed=0,
    metrics=[Metric('coco/bbox_mAP_50', 'AP50', scale=100)],
    splits={
        'val':
        Split(label='shifted val'),
        'heldout':
        Split(
            options=[
                f'test_dataloader.dataset.data_root={HELDOUT_ROOT}',
                f'test_dataloader.dataset.generate_cfg.seed={HELDOUT_SEED}',
                'test_dataloader.dataset.generate_cfg.num_train=1',
                f'test_evaluator.ann_file={HELDOUT_ROOT}annotations/'
                'instances_val.json'
            ],
            label=f'{HELDOUT_ROOT} val (shifted, generator seed '
            f'{HELDOUT_SEED}, generated on first use)'),
        'clean':
        Split(
            options=[
                'test_dataloader.dataset.data_root=data/digit_scenes/',
                'test_dataloader.dataset.generate_cfg.domain=clean',
                'test_evaluator.ann_file=data/digit_scenes/annotations/'
                'instances_val.json'
            ],
            label='clean val (the source domain)'),
    },
    # no detections score 0 AP50: the source model must detect on the
    # shifted domain before adapting it means anything
    gate=Gate('AP50', trivial=0.0, margin=5.0))
