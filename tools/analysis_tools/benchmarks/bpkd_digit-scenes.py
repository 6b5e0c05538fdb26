# Copyright (c) mmkd contributors. All rights reserved.
"""BPKD against CWD and the student alone on DigitScenes.

The teacher is trained once (seed ``fixed_seed``) and shared; the student
baseline (gated: it must leave the all-background solution) and the CWD and
BPKD students are trained per seed. Val and a held-out DigitScenes of new
canvases (another generator seed, generated on first use), mIoU and the
mean Boundary IoU (``mmkd.BoundaryIoUMetric``).

    python tools/analysis_tools/benchmark.py bpkd_digit-scenes --seeds 0 1 2
"""
from benchmark import BenchmarkSpec, Gate, Metric, Row, Split, \
    constant_seg_score

# the configs (the demo's pair): point these at other configs to benchmark
# them
TEACHER = 'configs/digit_scenes/fcn_r18-w32_2k_digit-scenes-128x128.py'
STUDENT = 'configs/digit_scenes/fcn_r18-w8_2k_digit-scenes-128x128.py'
CWD = 'configs/cwd/cwd_logits_fcn-r18w32_fcn-r18w8_2k_digit-scenes-128x128.py'
BPKD = 'configs/bpkd/bpkd_fcn-r18w32_fcn-r18w8_2k_digit-scenes-128x128.py'
# 200 val canvases of another generator seed, no setting was chosen on them
HELDOUT_ROOT = 'data/digit_scenes_heldout/'
HELDOUT_SEED = 100

SPEC = BenchmarkSpec(
    title='DigitScenes: BPKD against CWD and the student alone',
    rows=[
        Row('teacher',
            TEACHER,
            per_seed=False,
            gate=True,
            label='teacher (R18 w32)'),
        Row('student', STUDENT, gate=True, label='student alone (R18 w8)'),
        Row('cwd',
            CWD,
            teacher='teacher',
            baseline='student',
            label='CWD student'),
        Row('bpkd',
            BPKD,
            teacher='teacher',
            baseline='student',
            label='BPKD student'),
    ],
    seeds=[0, 1, 2],
    fixed_seed=0,
    metrics=[Metric('mIoU'), Metric('mBIoU')],
    splits={
        'val':
        Split(label='DigitScenes val'),
        'heldout':
        Split(
            options=[
                f'test_dataloader.dataset.data_root={HELDOUT_ROOT}',
                'test_dataloader.dataset.auto_generate=True',
                f'test_dataloader.dataset.generate_cfg.seed={HELDOUT_SEED}',
                'test_dataloader.dataset.generate_cfg.num_train=1',
            ],
            label=f'{HELDOUT_ROOT} val (generator seed {HELDOUT_SEED}, '
            'generated on first use)'),
    },
    # the student alone has scored the all-background 8.18 mIoU; it must
    # beat that by 5 points for a delta against it to mean anything
    gate=Gate('mIoU', trivial=constant_seg_score(0), margin=5.0),
    loss_key='decode.loss_ce',
    notes=[
        'loss: decode.loss_ce, the task loss, comparable with and '
        'without distillation.'
    ])
