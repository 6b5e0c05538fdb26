# Copyright (c) mmkd contributors. All rights reserved.
"""UniDistill on SimScenes: students with and without a teacher of another
modality.

By default the camera alone against the camera distilled from the LiDAR
teacher (trained once, seed ``fixed_seed``), per seed, on SimScenes val and
on a held-out root of new scenes (another generator seed) that no setting
was chosen on. The other paths are rows too (``--rows lidar_from_camera
camera_from_fusion lidar_from_fusion``); an existing teacher checkpoint is
given with ``--ckpt teacher_lidar=PATH``.

    python tools/dataset_converters/sim_scenes.py data/simscenes_heldout \\
        --seed 100 --num-train 1 --num-val 2 --num-keyframes 40
    python tools/analysis_tools/benchmark.py unidistill_simscenes \\
        --seeds 0 1 2
"""
import os.path as osp

from benchmark import BenchmarkSpec, Gate, Metric, Row, Split

CONFIGS = 'configs/unidistill/'
LIDAR = CONFIGS + 'bev-lidar_pillar08_second-secfpn_20e_simscenes.py'
CAMERA = CONFIGS + 'bev-camera_r18-lss_second-secfpn_20e_simscenes.py'
FUSION = (
    CONFIGS + 'bev-fusion_r18-lss_pillar08_second-secfpn_20e_simscenes.py')
MODELS = dict(lidar=LIDAR, camera=CAMERA, fusion=FUSION)
HELDOUT_ROOT = 'data/simscenes_heldout/'
PREFIX = 'NuScenes metric/pred_instances_3d_NuScenes/'


def distill_config(student: str, teacher: str) -> str:
    return (f'{CONFIGS}unidistill_bev-{teacher}_bev-{student}_20e_'
            'simscenes.py')


def heldout_options(root: str) -> list:
    """Overrides that point the test split at another SimScenes root."""
    root = root.rstrip('/') + '/'
    return [
        f'test_dataloader.dataset.data_root={root}',
        f'test_evaluator.data_root={root}',
        f'test_evaluator.ann_file={root}simscenes_infos_val.pkl'
    ]


PATHS = [('camera', 'lidar'), ('camera', 'fusion'), ('lidar', 'camera'),
         ('lidar', 'fusion')]
rows = [
    Row(f'teacher_{m}', config, per_seed=False, label=f'{m} teacher')
    for m, config in MODELS.items()
]
rows += [
    Row(f'{m}_alone', MODELS[m], gate=True, label=f'{m} alone')
    for m in ('camera', 'lidar')
]
rows += [
    Row(f'{s}_from_{t}',
        distill_config(s, t),
        teacher=f'teacher_{t}',
        baseline=f'{s}_alone',
        label=f'{s} <- {t}') for s, t in PATHS
]

SPEC = BenchmarkSpec(
    title='UniDistill on SimScenes, NuScenesMetric (%)',
    rows=rows,
    default_rows=['camera_alone', 'camera_from_lidar'],
    seeds=[0, 1, 2],
    fixed_seed=0,
    metrics=[
        Metric(PREFIX + 'mAP', 'mAP', scale=100),
        Metric(PREFIX + 'NDS', 'NDS', scale=100)
    ],
    splits={
        'val':
        Split(label='SimScenes val'),
        'heldout':
        Split(
            options=heldout_options(HELDOUT_ROOT),
            requires=[osp.join(HELDOUT_ROOT, 'simscenes_infos_val.pkl')],
            hint='python tools/dataset_converters/sim_scenes.py '
            f'{HELDOUT_ROOT} --seed 100 --num-train 1 --num-val 2 '
            '--num-keyframes 40',
            label=f'{HELDOUT_ROOT} val (new scenes, generator seed 100)'),
    },
    # no detections score 0 mAP; a student alone must detect something
    gate=Gate('mAP', trivial=0.0, margin=1.0),
    notes=[
        '4 of nuScenes\' 10 classes never occur in SimScenes, so mAP is '
        'at most 60.'
    ])
