# Copyright (c) mmkd contributors. All rights reserved.
"""BPKD against CWD and the student alone on 256 px DigitScenes.

The teacher (FCN R50 width 16) is trained once (seed ``fixed_seed``) and
shared; the student baseline (FCN R18 width 16; gated: it must leave the
all-background solution) and the CWD and BPKD students (the references'
formula, and mmkd's options) are trained per seed: seeds 1-5 (the
student's recipe: docs/methods/bpkd.md, tuning record). Val and a
held-out DigitScenes of new canvases (generator seed 100, generated on first
use), mIoU and the mean Boundary IoU (``mmkd.BoundaryIoUMetric``). Results: docs/methods/bpkd.md.

    python tools/analysis_tools/benchmark.py bpkd_digit-scenes
"""
from benchmark import BenchmarkSpec, Gate, Metric, Row, Split, \
    constant_seg_score

# the configs (the demo's pair): point these at other configs to benchmark
# them
TEACHER = 'configs/digit_scenes/fcn_r50-w16_2k_digit-scenes256-128x128.py'
STUDENT = 'configs/digit_scenes/fcn_r18-w16_2k_digit-scenes256-128x128.py'
CWD = ('configs/cwd/'
       'cwd_logits_fcn-r50w16_fcn-r18w16_2k_digit-scenes256-128x128.py')
BPKD = 'configs/bpkd/bpkd_fcn-r50w16_fcn-r18w16_2k_digit-scenes256-128x128.py'
BPKD_MMKD = BPKD.replace('.py', '_mmkd-options.py')
# 200 val canvases of another generator seed, no setting was chosen on them
HELDOUT_ROOT = 'data/digit_scenes_256_seed100/'
HELDOUT_SEED = 100

SPEC = BenchmarkSpec(
    title='DigitScenes: BPKD against CWD and the student alone',
    rows=[
        Row('teacher',
            TEACHER,
            per_seed=False,
            gate=True,
            label='teacher (R50 w16)'),
        Row('student', STUDENT, gate=True, label='student alone (R18 w16)'),
        Row('cwd',
            CWD,
            teacher='teacher',
            baseline='student',
            label='CWD student'),
        Row('bpkd',
            BPKD,
            teacher='teacher',
            baseline='student',
            label='BPKD student (references\' formula)'),
        Row('bpkd_mmkd',
            BPKD_MMKD,
            teacher='teacher',
            baseline='student',
            label='BPKD student (mmkd options)'),
    ],
    seeds=[1, 2, 3, 4, 5],
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
            ],
            label=f'{HELDOUT_ROOT} val (generator seed {HELDOUT_SEED}, '
            'generated on first use)'),
    },
    # the all-background prediction scores 8.2 mIoU; the student must beat
    # it by 5 points on every seed for a delta against it to mean anything
    gate=Gate('mIoU', trivial=constant_seg_score(0), margin=5.0),
    # the paper's comparison, both students distilled from the one teacher;
    # and what mmkd's options change
    comparisons=[('bpkd', 'cwd'), ('bpkd_mmkd', 'bpkd')],
    loss_key='decode.loss_ce',
    notes=[
        'loss: decode.loss_ce, the task loss, comparable with and '
        'without distillation.'
    ])
