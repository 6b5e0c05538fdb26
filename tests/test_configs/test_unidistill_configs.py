# Copyright (c) mmkd contributors. All rights reserved.
"""UniDistill's configs: the weights per path, and the nuScenes
setting built and distilling one step on SimScenes data."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

from mmkd_testing import ROOT, save_random_teacher

CONFIGS = osp.join(ROOT, 'configs', 'unidistill')
# feature / relation / response weights of the official experiments
WEIGHTS = {
    ('lidar', 'camera'): (100., 40., 10.),
    ('fusion', 'camera'): (10., 5., 10.),
    ('camera', 'lidar'): (10., 5., 1.),
    ('fusion', 'lidar'): (10., 1., 10.),
}
# SimScenes' camera <- LiDAR feature weight (docs/methods/unidistill.md)
SIMSCENES_WEIGHTS = {**WEIGHTS, ('lidar', 'camera'): (10., 40., 10.)}
TAPS = dict(lidar='pts_middle_encoder', camera='view_transform',
            fusion='fusion_layer')


@pytest.mark.parametrize('setting', ['simscenes', 'nus'])
@pytest.mark.parametrize('teacher,student', list(WEIGHTS))
def test_each_path_has_its_weights_and_its_teacher(setting, teacher,
                                                   student):
    cfg = Config.fromfile(
        osp.join(CONFIGS,
                 f'unidistill_bev-{teacher}_bev-{student}_20e_{setting}.py'))
    losses = cfg.model.losses
    weights = WEIGHTS if setting == 'nus' else SIMSCENES_WEIGHTS
    assert (losses.feature.loss_weight, losses.relation.loss_weight,
            losses.response.loss_weight) == weights[(teacher, student)]
    assert cfg.model.taps.student.bev == TAPS[student]
    assert cfg.model.taps.teacher.bev == TAPS[teacher]
    teacher_cfg = cfg.model.teacher.cfg_path
    assert osp.isfile(teacher_cfg) and f'bev-{teacher}_' in teacher_cfg
    assert osp.basename(teacher_cfg)[:-3] in cfg.model.teacher_ckpt
    # a config may name its student by file (the LiDAR <- camera paths)
    from mmkd.models.distillers.teacher import resolve_model_cfg
    student_model = resolve_model_cfg(cfg.model.student, 'student')
    assert (student_model.view_transform is not None) == (student !=
                                                          'lidar')
    assert (student_model.pts_middle_encoder is not None) == (student !=
                                                              'camera')


def test_simscenes_tests_take_the_nearest_sweeps():
    """Every SimScenes config tests on the nearest 9 sweeps of a keyframe
    (test_mode=True), trains on 9 drawn at random (mmdet3d's default): a
    test's score must not vary from run to run (the draw's effect:
    tests/test_configs/test_xray_configs.py)."""
    paths = sorted(glob.glob(osp.join(CONFIGS, '*_simscenes.py')))
    assert len(paths) == 7
    for path in paths:
        cfg = Config.fromfile(path)
        for key, test_mode in (('train', None), ('val', True),
                               ('test', True)):
            [sweeps] = [
                t for t in cfg[f'{key}_dataloader'].dataset.pipeline
                if t['type'] == 'LoadPointsFromMultiSweeps'
            ]
            assert sweeps.get('test_mode') is test_mode, (path, key)


def test_nuscenes_setting():
    cfg = Config.fromfile(
        osp.join(CONFIGS, 'bev-fusion_r50-lss_voxel0075_second-secfpn_'
                 '20e_nus.py'))
    head = cfg.model.bbox_head.train_cfg
    # one 180 x 180 grid of 0.6 m cells on +-54 m
    assert head.point_cloud_range[:2] == [-54.0, -54.0]
    assert head.voxel_size[0] * head.out_size_factor == pytest.approx(0.6)
    assert cfg.model.view_transform.bev_cell_size == [0.6, 0.6]
    assert cfg.model.view_transform.image_size == (256, 704)
    sweeps = [t for t in cfg.train_pipeline
              if t.type == 'LoadPointsFromMultiSweeps'][0]
    assert sweeps.sweeps_num == 9  # + the key frame: 10 sweeps
    camera = Config.fromfile(
        osp.join(CONFIGS, 'bev-camera_r50-lss_second-secfpn_20e_nus.py'))
    assert camera.optim_wrapper.optimizer.lr == 2e-4
    assert len(glob.glob(osp.join(CONFIGS, '*_nus.py'))) == 7


@pytest.mark.parametrize('teacher,student', list(WEIGHTS))
def test_nuscenes_distill_models_build(tmp_path, teacher, student):
    """Both models of each path at paper size, with the build-time grid
    and channel checks of the three losses."""
    from mmkd.models.distillers.teacher import resolve_model_cfg
    cfg = Config.fromfile(
        osp.join(CONFIGS, f'unidistill_bev-{teacher}_bev-{student}_20e_'
                 'nus.py'))
    teacher_cfg = resolve_model_cfg(cfg.model.teacher, 'teacher')
    cfg.model.teacher = teacher_cfg
    cfg.model.teacher_ckpt = save_random_teacher(
        teacher_cfg, str(tmp_path / 'teacher.pth'), 'mmdet3d')
    init_default_scope('mmdet3d')
    from mmdet3d.registry import MODELS
    model = MODELS.build(cfg.model)
    assert model.student.with_camera == (student == 'camera')
    assert model.teacher.with_lidar == (teacher != 'camera')


def test_nuscenes_camera_model_trains_on_nuscenes_format_data(
        tiny_simscenes):
    """The paper-size camera model (ResNet-50 on six 256 x 704 views, LSS on
    112 depth bins to 180 x 180 cells) for one step on SimScenes, which is
    nuScenes-format. (The sparse-voxel LiDAR model needs CUDA: mmcv's sparse
    convolutions have no CPU kernels.)"""
    cfg = Config.fromfile(
        osp.join(CONFIGS, 'bev-camera_r50-lss_second-secfpn_20e_nus.py'))
    # the nuScenes dataset without CBGS, which needs every class present
    dataset_cfg = cfg.train_dataloader.dataset.dataset
    dataset_cfg.data_root = tiny_simscenes + '/'
    dataset_cfg.ann_file = 'simscenes_infos_train.pkl'
    init_default_scope('mmdet3d')
    from mmdet3d.registry import DATASETS, MODELS
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    dataset = DATASETS.build(dataset_cfg)
    data = model.data_preprocessor(pseudo_collate([dataset[0]]), True)
    assert data['inputs']['imgs'].shape == (1, 6, 3, 256, 704)
    bev = model.extract_camera_bev(
        data['inputs']['imgs'], [s.metainfo for s in data['data_samples']])
    assert bev.shape == (1, 256, 180, 180) and bev.abs().sum() > 0
    losses = model(**data, mode='loss')
    assert all(torch.isfinite(v) for v in losses.values())
