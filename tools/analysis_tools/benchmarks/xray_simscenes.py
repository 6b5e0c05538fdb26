# Copyright (c) mmkd contributors. All rights reserved.
"""X-Ray on SimScenes: the CenterPoint-pillar student alone against the
student distilled from the same detector trained on Object-Complete frames,
and the feature-only and response-only ablations.

The teacher is trained once (seed ``fixed_seed``) on the Object-Complete
train frames and tested on the Object-Complete val frames (row
``teacher``) and on the normal ones (row ``teacher_normal``, its
checkpoint under the baseline's test infos); the baseline (gated: it must
detect something on every seed), X-Ray and its two ablations are trained
per seed (seeds 1-3; seed 100 is for tuning the loss weights:
docs/methods/xray.md). Val and a held-out SimScenes of new scenes
(generator seed 100), made Object-Complete too, on first use: both are
made by the splits' prepare steps when missing (``data/simscenes`` and
its Object-Complete frames, as the README's commands make them):

    python tools/analysis_tools/benchmark.py xray_simscenes --records
"""
from benchmark import BenchmarkSpec, Gate, Metric, Row, Split

CONFIGS = 'configs/xray/'
BASELINE = (CONFIGS +
            'centerpoint_pillar04-small_second-secfpn_20e_simscenes.py')
TEACHER = BASELINE.replace('.py', '-oc.py')
XRAY = ('{}_centerpoint-pillar04-small-oc_centerpoint-pillar04-small_20e_'
        'simscenes.py')
DATA_ROOT = 'data/simscenes/'
# UniDistill's held-out root (the same command makes it), patched here
HELDOUT_ROOT = 'data/simscenes_heldout/'
HELDOUT_SEED = 100
PREFIX = 'NuScenes metric/pred_instances_3d_NuScenes/'


def xray_config(kind: str = 'xray') -> str:
    """The X-Ray student (``'xray'``) or an ablation (``'xray-feat'``,
    ``'xray-resp'``)."""
    return CONFIGS + XRAY.format(kind)


def test_infos(root: str, ann_file: str) -> list:
    """Overrides that test on ``root``'s ``ann_file``."""
    root = root.rstrip('/') + '/'
    return [
        f'test_dataloader.dataset.ann_file={ann_file}',
        f'test_evaluator.ann_file={root}{ann_file}'
    ]


def heldout_options(root: str) -> list:
    """Overrides that point the test split at another SimScenes root: each
    config's own test infos there (the teacher's Object-Complete ones,
    the students' normal ones), the ground truth of its normal infos (the
    same boxes)."""
    root = root.rstrip('/') + '/'
    return [
        f'test_dataloader.dataset.data_root={root}',
        f'test_evaluator.data_root={root}',
        f'test_evaluator.ann_file={root}simscenes_infos_val.pkl'
    ]


def default_prepare(root: str) -> list:
    """The default root's prepare steps: generate it (the generator's
    defaults), then write the Object-Complete frames of all its infos."""
    root = root.rstrip('/') + '/'
    return [
        (root + 'simscenes_infos_val.pkl',
         ['python', 'tools/dataset_converters/sim_scenes.py', root]),
        (root + 'simscenes_infos_train_xray-teacher.pkl',
         ['python', 'tools/dataset_converters/xray_object_complete.py', root]),
    ]


def heldout_prepare(root: str, seed: int) -> list:
    """The held-out root's prepare steps: generate it, then write its
    Object-Complete val frames and infos."""
    root = root.rstrip('/') + '/'
    return [
        (root + 'simscenes_infos_val.pkl', [
            'python', 'tools/dataset_converters/sim_scenes.py', root,
            '--seed', str(seed), '--num-train', '1', '--num-val', '2',
            '--num-keyframes', '40'
        ]),
        (root + 'simscenes_infos_val_xray-teacher.pkl', [
            'python', 'tools/dataset_converters/xray_object_complete.py',
            root, '--infos', root + 'simscenes_infos_val.pkl'
        ]),
    ]


students = [('xray', 'X-Ray student (neck + heat-maps + regression)'),
            ('xray-feat', 'X-Ray feature-only (BEV neck MSE)'),
            ('xray-resp', 'X-Ray response-only (heat-maps + regression)')]
SPEC = BenchmarkSpec(
    title='X-Ray on SimScenes (CenterPoint-pillar 0.4 m), NuScenesMetric (%)',
    rows=[
        Row('teacher',
            TEACHER,
            per_seed=False,
            label='teacher (Object-Complete frames)'),
        Row('teacher_normal',
            TEACHER,
            options=test_infos(DATA_ROOT, 'simscenes_infos_val.pkl'),
            test_only=True,
            checkpoint='teacher',
            label='teacher on the normal frames'),
        Row('baseline', BASELINE, gate=True, label='student alone'),
        *[
            Row(kind.replace('-', '_'),
                xray_config(kind),
                teacher='teacher',
                baseline='baseline',
                label=label) for kind, label in students
        ],
    ],
    seeds=[1, 2, 3],
    fixed_seed=0,
    metrics=[
        Metric(PREFIX + 'mAP', 'mAP', scale=100),
        Metric(PREFIX + 'NDS', 'NDS', scale=100)
    ],
    splits={
        'val':
        Split(label='SimScenes val', prepare=default_prepare(DATA_ROOT)),
        'heldout':
        Split(
            options=heldout_options(HELDOUT_ROOT),
            requires=[
                HELDOUT_ROOT + 'simscenes_infos_val.pkl',
                HELDOUT_ROOT + 'simscenes_infos_val_xray-teacher.pkl'
            ],
            prepare=heldout_prepare(HELDOUT_ROOT, HELDOUT_SEED),
            label=f'{HELDOUT_ROOT} val (new scenes, generator seed '
            f'{HELDOUT_SEED}, Object-Complete for the teacher)'),
    },
    # no detections score 0 mAP; the student alone must detect something
    gate=Gate('mAP', trivial=0.0, margin=1.0),
    # each ablation against the full X-Ray student (each against the
    # baseline is its row's delta)
    comparisons=[('xray_feat', 'xray'), ('xray_resp', 'xray')],
    notes=[
        '4 of nuScenes\' 10 classes never occur in SimScenes, so mAP is '
        'at most 60.',
        'SimScenes objects are rigid cuboids: their Object-Complete frames '
        'are exact, which likely overstates what completion gives on real '
        'LiDAR.',
    ])
