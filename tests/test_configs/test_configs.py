# Copyright (c) mmkd contributors. All rights reserved.
"""Every shipped config parses and every distillation config builds."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmkd  # noqa: F401
from mmkd.models.distillers import DistillModel, build_model
from mmkd.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    p for folder in ('configs', 'projects', 'tools/analysis_tools')
    for p in glob.glob(osp.join(ROOT, folder, '**', '*.py'), recursive=True)
    if '_base_' not in p and ('/configs/' in p or '_configs/' in p))
DISTILL_CONFIGS = [
    p for p in CONFIGS
    if Config.fromfile(p).model.get('type') == 'mmkd.DistillModel'
]


@pytest.mark.parametrize('path', CONFIGS,
                         ids=lambda p: osp.relpath(p, ROOT))
def test_config_parses(path):
    cfg = Config.fromfile(path)
    assert 'model' in cfg and 'train_cfg' in cfg


@pytest.mark.parametrize('path', DISTILL_CONFIGS,
                         ids=lambda p: osp.relpath(p, ROOT))
def test_distill_config_builds(path, tmp_path):
    """Build with a teacher checkpoint made from the teacher config (the
    model zoo is not reachable here); the real URL stays in the config."""
    cfg = Config.fromfile(path)
    init_default_scope(cfg.get('default_scope', 'mmkd'))
    teacher = build_model(cfg.model.teacher, 'teacher')
    ckpt = str(tmp_path / 'teacher.pth')
    torch.save(dict(state_dict=teacher.state_dict()), ckpt)
    del teacher
    model_cfg = cfg.model.copy()
    model_cfg.teacher_ckpt = ckpt
    model_cfg.pop('teacher_cache', None)  # built by tools/cache_teacher.py
    model = MODELS.build(model_cfg)
    assert isinstance(model, DistillModel)
    assert not any(k.startswith('teacher') for k in model.state_dict())


def _build_with_random_teacher(path, tmp_path):
    cfg = Config.fromfile(path)
    init_default_scope(cfg.get('default_scope', 'mmkd'))
    teacher = build_model(cfg.model.teacher, 'teacher')
    ckpt = str(tmp_path / 'teacher.pth')
    torch.save(dict(state_dict=teacher.state_dict()), ckpt)
    model_cfg = cfg.model.copy()
    model_cfg.teacher_ckpt = ckpt
    return MODELS.build(model_cfg)


def _count_calls(module):
    calls = []
    module.register_forward_pre_hook(lambda *args: calls.append(1))
    return calls


def test_mmdet_fpn_distill_step(tmp_path):
    """RetinaNet: per-level FPN losses; the teacher stops after its neck."""
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    model = _build_with_random_teacher(
        osp.join(ROOT, 'configs/feature_mimic/'
                 'mse_fpn_retinanet-r101_retinanet-r50_1x_coco.py'),
        tmp_path)
    head_calls = _count_calls(model.teacher.bbox_head.retina_cls)
    sample = DetDataSample(
        metainfo=dict(img_shape=(64, 64), ori_shape=(64, 64),
                      scale_factor=(1., 1.)))
    sample.gt_instances = InstanceData(
        bboxes=torch.tensor([[8., 8., 40., 48.]]), labels=torch.tensor([3]))
    data = dict(
        inputs=[torch.randint(0, 255, (3, 64, 64), dtype=torch.uint8)],
        data_samples=[sample])
    model.train()
    for _ in range(2):
        losses = model(**model.data_preprocessor(data, True), mode='loss')
    assert {'loss_cls', 'loss_bbox', 'distill.loss_mse_fpn'} <= set(losses)
    assert losses['distill.loss_mse_fpn'] > 0
    # the first forward learns the tap calls and runs to the end (the head
    # once per FPN level), the second stops after the neck
    assert len(head_calls) == 5


def test_mmdet3d_bev_distill_step(tmp_path):
    """PointPillars: voxelised points, a BEV connector, teacher to neck."""
    from mmdet3d.structures import Det3DDataSample, LiDARInstance3DBoxes
    from mmengine.structures import InstanceData
    model = _build_with_random_teacher(
        osp.join(ROOT, 'configs/feature_mimic/mse_bev_pointpillars-w64_'
                 'pointpillars-w32_160e_kitti-3d-3class.py'), tmp_path)
    head_calls = _count_calls(model.teacher.bbox_head.conv_cls)
    g = torch.Generator().manual_seed(0)
    low = torch.tensor([0., -39.68, -3., 0.])
    high = torch.tensor([69.12, 39.68, 1., 1.])
    points = low + torch.rand(2000, 4, generator=g) * (high - low)
    sample = Det3DDataSample(metainfo=dict(box_type_3d=LiDARInstance3DBoxes))
    sample.gt_instances_3d = InstanceData(
        bboxes_3d=LiDARInstance3DBoxes(
            torch.tensor([[20., 0., -1., 4., 1.8, 1.6, 0.3]])),
        labels_3d=torch.tensor([2]))
    data = dict(inputs=dict(points=[points]), data_samples=[sample])
    model.train()
    for _ in range(2):
        losses = model(**model.data_preprocessor(data, True), mode='loss')
    assert 'distill.loss_mse_bev' in losses and 'loss_cls' in losses
    assert losses['distill.loss_mse_bev'] > 0
    assert len(head_calls) == 1
