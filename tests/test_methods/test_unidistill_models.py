# Copyright (c) mmkd contributors. All rights reserved.
"""UniDistill's models (LSS, fusion, BEVDetector), its image transform, its
configs on a tiny SimScenes and its build-time checks."""
import copy
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

from mmkd.models.bev import ConvFuser, LSSViewTransform
from mmkd.datasets import MultiViewImageResizeCrop
from mmkd_testing import ROOT, save_random_teacher

CONFIGS = osp.join(ROOT, 'configs', 'unidistill')
SIM = dict(
    lidar='bev-lidar_pillar08_second-secfpn_20e_simscenes.py',
    camera='bev-camera_r18-lss_second-secfpn_20e_simscenes.py',
    fusion='bev-fusion_r18-lss_pillar08_second-secfpn_20e_simscenes.py')

# a front camera: LiDAR x forward, y left, z up -> camera x right, y down,
# z forward, 1 m above the LiDAR
LIDAR2CAM = torch.tensor([[0., -1., 0., 0.], [0., 0., -1., 1.],
                          [1., 0., 0., 0.], [0., 0., 0., 1.]])
CAM2IMG = torch.tensor([[40., 0., 32., 0.], [0., 40., 16., 0.],
                        [0., 0., 1., 0.], [0., 0., 0., 1.]])


def test_lss_frustum_points_project_back_to_their_pixels():
    vt = LSSViewTransform(
        in_channels=4,
        out_channels=3,
        image_size=(32, 64),
        feature_stride=8,
        depth_bound=(2., 10., 2.),
        point_cloud_range=[-16, -16, -5, 16, 16, 3],
        bev_cell_size=(1., 1.))
    points = vt.lidar_points(CAM2IMG[None, None], LIDAR2CAM[None, None])
    assert points.shape == (1, 1, 4, 4, 8, 3)
    homo = torch.cat([points, torch.ones_like(points[..., :1])], -1)
    cam = torch.einsum('ij,...j->...i', CAM2IMG @ LIDAR2CAM, homo)
    depth = cam[..., 2]
    uv = cam[..., :2] / depth[..., None]
    # feature cell (row 1, column 2) looks through pixel (2*8+3.5, 1*8+3.5)
    assert torch.allclose(uv[0, 0, :, 1, 2],
                          torch.tensor([19.5, 11.5]).expand(4, 2), atol=1e-4)
    assert torch.allclose(depth[0, 0, :, 0, 0], torch.tensor([2., 4., 6.,
                                                              8.]))
    # the forward camera sees along +x: points at depth d have x = d
    assert torch.allclose(points[0, 0, :, :, :, 0],
                          depth[0, 0], atol=1e-4)


def test_lss_splat_sums_features_into_their_cells():
    vt = LSSViewTransform(4, 2, (8, 8), 8, (1., 2., 1.),
                          [0, 0, -1, 4, 4, 1], (1., 1.))
    points = torch.tensor([[[0.5, 0.5, 0.], [0.7, 0.2, 0.], [3.5, 1.5, 0.],
                            [5.0, 1.0, 0.], [1.0, 1.0, 2.0]]])
    feats = torch.tensor([[[1., 0.], [2., 0.], [0., 5.], [9., 9.],
                           [9., 9.]]])
    bev = vt.splat(feats, points)
    expected = torch.zeros(1, 2, 4, 4)
    expected[0, 0, 0, 0] = 3.  # two points in cell x=0, y=0
    expected[0, 1, 1, 3] = 5.  # row y=1, column x=3
    assert torch.equal(bev, expected)  # outside x and z: dropped


def test_lss_forward_is_differentiable_and_names_bad_shapes():
    vt = LSSViewTransform(4, 3, (32, 64), 8, (2., 10., 2.),
                          [-16, -16, -5, 16, 16, 3], (1., 1.))
    feats = torch.randn(2, 4, 4, 8, requires_grad=True)
    cam2img = CAM2IMG.expand(1, 2, 4, 4)
    lidar2cam = LIDAR2CAM.expand(1, 2, 4, 4)
    bev = vt(feats, cam2img, lidar2cam)
    assert bev.shape == (1, 3, 32, 32)
    # the front camera fills cells ahead of the car only
    assert bev[..., :, :16].abs().sum() == 0 and bev.abs().sum() > 0
    bev.sum().backward()
    assert feats.grad.abs().sum() > 0
    with pytest.raises(ValueError, match='image_size'):
        vt(torch.randn(2, 4, 5, 8), cam2img, lidar2cam)
    with pytest.raises(ValueError, match='whole number'):
        LSSViewTransform(4, 3, (32, 64), 8, (2., 10., 2.),
                         [-16, -16, -5, 16, 16, 3], (0.7, 0.7))


def test_multiview_resize_crop_keeps_points_on_their_pixels():
    # a bright square where a 3D point projects; after resize, crop, flip
    # and rotation the new cam2img must still project it onto the square
    cam2img = np.array([[100., 0., 80.], [0., 100., 45.], [0., 0., 1.]])
    lidar2cam = LIDAR2CAM.numpy()
    point = np.array([10., -1.5, 0.8, 1.])
    u, v, w = cam2img @ (lidar2cam @ point)[:3]
    u, v = int(u / w), int(v / w)
    img = np.zeros((90, 160, 3), np.float32)
    img[v - 2:v + 3, u - 2:u + 3] = 255
    np.random.seed(1)
    transform = MultiViewImageResizeCrop(
        (48, 96), resize_range=(0.6, 0.8), rotate_range=(-5.4, 5.4),
        flip_prob=0.5)
    flips = 0
    for _ in range(12):
        out = transform(dict(img=[img], cam2img=[cam2img],
                             lidar2cam=[lidar2cam]))
        assert out['img'][0].shape == (48, 96, 3)
        uu, vv, ww = (out['lidar2img'][0] @ point)[:3]
        flips += out['img_aug_matrix'][0][0, 0] < 0
        col, row = uu / ww, vv / ww
        ys, xs = np.nonzero(out['img'][0][..., 0] > 100)
        assert abs(xs.mean() - col) < 1 and abs(ys.mean() - row) < 1
    assert 0 < flips < 12
    test = MultiViewImageResizeCrop((48, 96), test_mode=True)
    out = test(dict(img=[img], cam2img=[cam2img]))
    # 96 / 160 = 0.6 fits the width; the top of the 54-row image is cropped
    assert np.allclose(out['cam2img'][0][:3, :3],
                       [[60., 0., 48.], [0., 60., 27. - 6.], [0., 0., 1.]])


def test_conv_fuser_and_bev_detector_refuse_bad_parts():
    fuser = ConvFuser([2, 3], 4, channel_attention=True)
    assert fuser([torch.randn(1, 2, 5, 5),
                  torch.randn(1, 3, 5, 5)]).shape == (1, 4, 5, 5)
    with pytest.raises(ValueError, match='share one grid'):
        fuser([torch.randn(1, 2, 5, 5), torch.randn(1, 3, 4, 4)])
    init_default_scope('mmdet3d')
    from mmdet3d.registry import MODELS
    model = Config.fromfile(osp.join(CONFIGS, SIM['fusion'])).model
    with pytest.raises(ValueError, match='fusion_layer is required'):
        MODELS.build(dict(model, fusion_layer=None))
    with pytest.raises(ValueError, match='only the LiDAR branch'):
        MODELS.build(
            dict(model, img_backbone=None, img_neck=None,
                 view_transform=None))
    with pytest.raises(ValueError, match='needs both img_backbone and'):
        MODELS.build(dict(model, view_transform=None, fusion_layer=None))


def sim_cfg(name, root):
    """A SimScenes config on the tiny root."""
    cfg = Config.fromfile(osp.join(CONFIGS, name))
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = root + '/'
    for split in ('val', 'test'):
        cfg[f'{split}_evaluator'].data_root = root + '/'
        cfg[f'{split}_evaluator'].ann_file = osp.join(
            root, 'simscenes_infos_val.pkl')
    return cfg


def batch_of(cfg, split='train', n=2):
    from mmdet3d.registry import DATASETS
    ds = DATASETS.build(cfg[f'{split}_dataloader'].dataset)
    return pseudo_collate([ds[i] for i in range(n)])


@pytest.mark.parametrize('path', ['lidar', 'camera', 'fusion'])
def test_each_path_trains_and_predicts_on_simscenes(tiny_simscenes, path):
    init_default_scope('mmdet3d')
    from mmdet3d.registry import MODELS
    cfg = sim_cfg(SIM[path], tiny_simscenes)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    data = model.data_preprocessor(batch_of(cfg), True)
    losses = model(**data, mode='loss')
    assert len(losses) == 12 and all(torch.isfinite(v) for v in
                                     losses.values())
    sum(losses.values()).backward()
    first = dict(
        lidar='pts_voxel_encoder', camera='img_backbone',
        fusion='img_backbone')[path]
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for p in getattr(model, first).parameters())
    model.eval()
    with torch.no_grad():
        preds = model(
            **model.data_preprocessor(batch_of(cfg, 'val', 1), False),
            mode='predict')
    assert preds[0].pred_instances_3d.bboxes_3d.tensor.shape[1] == 9


def distill(tiny_simscenes, tmp_path, name, **overrides):
    """The DistillModel of a SimScenes distill config with a random
    teacher checkpoint."""
    from mmkd.models.distillers.teacher import resolve_model_cfg
    cfg = sim_cfg(name, tiny_simscenes)
    teacher_cfg = resolve_model_cfg(cfg.model.teacher, 'teacher')
    for key, value in overrides.pop('teacher', {}).items():
        teacher_cfg[key] = value
    cfg.model.teacher = teacher_cfg
    cfg.model.teacher_ckpt = save_random_teacher(
        teacher_cfg, str(tmp_path / 'teacher.pth'), 'mmdet3d')
    cfg.model.update(overrides)
    return cfg


def test_camera_student_distils_from_a_lidar_teacher(tiny_simscenes,
                                                     tmp_path):
    cfg = distill(tiny_simscenes, tmp_path,
                  'unidistill_bev-lidar_bev-camera_20e_simscenes.py')
    init_default_scope('mmdet3d')
    from mmdet3d.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    assert model.teacher.with_lidar and not model.teacher.with_camera
    data = model.data_preprocessor(batch_of(cfg), True)
    # the LiDAR teacher voxelises with its own preprocessor
    assert 'voxels' not in data['inputs']
    losses = model(**data, mode='loss')
    for key in ('feature', 'relation', 'response'):
        assert losses[f'distill.loss_{key}'] > 0
    sum(losses.values()).backward()
    assert all(p.grad is None for p in model.teacher.parameters())
    vt = model.student.view_transform.depth_net
    assert vt.weight.grad.abs().sum() > 0


def test_bev_grids_and_channels_are_checked_at_build_time(
        tiny_simscenes, tmp_path):
    init_default_scope('mmdet3d')
    from mmdet3d.registry import MODELS
    name = 'unidistill_bev-lidar_bev-camera_20e_simscenes.py'
    # a teacher on 0.4 m cells: another grid
    head = copy.deepcopy(Config.fromfile(osp.join(
        CONFIGS, SIM['lidar'])).model.bbox_head)
    head.train_cfg.voxel_size = [0.4, 0.4, 8.0]
    cfg = distill(tiny_simscenes, tmp_path, name, teacher=dict(
        bbox_head=head))
    with pytest.raises(ValueError, match=r'BEV grids differ \(student '
                       r'range .*voxel \[0.8, 0.8\].*teacher .*voxel '
                       r'\[0.4, 0.4\]'):
        MODELS.build(cfg.model)
    for loss in cfg.model.losses.values():
        loss.resample_teacher = True
    MODELS.build(cfg.model)
    # a teacher with 32 BEV channels
    enc = dict(type='PointPillarsScatter', in_channels=32,
               output_shape=(128, 128))
    lidar = Config.fromfile(osp.join(CONFIGS, SIM['lidar'])).model
    vfe = dict(lidar.pts_voxel_encoder, feat_channels=[32])
    backbone = dict(lidar.pts_backbone, in_channels=32)
    cfg = distill(tiny_simscenes, tmp_path, name, teacher=dict(
        pts_voxel_encoder=vfe, pts_middle_encoder=enc,
        pts_backbone=backbone))
    with pytest.raises(ValueError, match=r"'view_transform' has 64 "
                       r"channels, teacher 'pts_middle_encoder' 32; add "
                       r"connectors=.*ConvConnector"):
        MODELS.build(cfg.model)
    cfg.model.connectors = dict(bev=dict(
        type='mmkd.ConvConnector', in_channels=64, out_channels=16))
    with pytest.raises(ValueError, match='connector .* gives 16 channels'):
        MODELS.build(cfg.model)
    cfg.model.connectors.bev.out_channels = 32
    MODELS.build(cfg.model)
    # a point_cloud_range that is not the student's
    cfg = distill(tiny_simscenes, tmp_path, name)
    cfg.model.losses.feature.point_cloud_range = [-50, -50, -5, 50, 50, 3]
    with pytest.raises(ValueError, match="range of the student's head"):
        MODELS.build(cfg.model)
