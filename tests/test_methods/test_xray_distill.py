# Copyright (c) mmkd contributors. All rights reserved.
"""X-Ray distillation: the two clouds of a sample (the teacher's patched
keyframe with the student's sweeps, one augmentation), and the losses of
configs/_base_/distill/xray_centerpoint.py on a CenterPoint pair."""
import copy
import os
import os.path as osp
import random

import numpy as np
import pytest
import torch
from mmdet3d.structures import Det3DDataSample, LiDARInstance3DBoxes
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

from mmkd_testing import ROOT
from xray_standins import object_complete_root, shrink_distill_model

from mmkd.registry import TRANSFORMS

CONFIG = osp.join(
    ROOT, 'configs/xray/xray_centerpoint-pillar04-small-oc_'
    'centerpoint-pillar04-small_20e_simscenes.py')
LOADERS = [
    dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5,
         use_dim=5),
    dict(type='LoadPointsFromMultiSweeps', sweeps_num=2,
         use_dim=[0, 1, 2, 3, 4], pad_empty_sweeps=True, remove_close=True),
]


def write(path, points):
    os.makedirs(osp.dirname(path), exist_ok=True)
    np.asarray(points, np.float32).tofile(path)


@pytest.fixture
def frame(tmp_path):
    """A keyframe of 4 points, its patched file (the 4 points, ring index
    0, then 3 added) and 4 sweeps of 2 points each."""
    rng = np.random.RandomState(0)
    own = rng.uniform(5, 20, (4, 5))
    added = rng.uniform(5, 20, (3, 5))
    write(tmp_path / 'samples/LIDAR_TOP/k.bin', own)
    patched = np.concatenate([own, added]).astype(np.float32)
    patched[:, 4] = 0
    write(tmp_path / 'samples/LIDAR_TOP_PATCHED/k.bin', patched)
    sweeps = []
    for i in range(4):
        path = str(tmp_path / f'sweeps/LIDAR_TOP/s{i}.bin')
        write(path, rng.uniform(5, 20, (2, 5)) + 100 * (i + 1))
        sweeps.append(
            dict(lidar_points=dict(lidar_path=path, lidar2sensor=np.eye(4)),
                 timestamp=0.9 - 0.1 * i))
    keyframe = str(tmp_path / 'samples/LIDAR_TOP/k.bin')
    results = dict(
        sample_idx=0,
        lidar_path=keyframe,
        lidar_points=dict(
            lidar_path=keyframe,
            lidar_path_teacher='../LIDAR_TOP_PATCHED/k.bin',
            num_pts_feats=5),
        lidar_sweeps=sweeps,
        timestamp=1.0)
    return results, patched


def test_teacher_cloud_is_the_patched_keyframe_with_the_same_sweeps(frame):
    results, patched = frame
    init_default_scope('mmdet3d')  # the loaders' scope, as in configs
    load = TRANSFORMS.build(
        dict(type='mmkd.LoadTeacherPoints', transforms=LOADERS))
    alone = TRANSFORMS.build(dict(type='mmkd.LoadTeacherPoints',
                                  transforms=LOADERS)).transforms
    chosen = set()
    for seed in range(6):
        np.random.seed(seed)
        out = load(copy.deepcopy(results))
        after = np.random.get_state()[1].copy()
        student = out['points'].tensor.numpy()
        teacher = out['teacher_points'].tensor.numpy()
        # 4 (student) or 7 (teacher) keyframe points and two sweeps of 2
        assert student.shape == (8, 5) and teacher.shape == (11, 5)
        np.testing.assert_array_equal(teacher[:7, :4], patched[:, :4])
        # the same two sweeps, drawn once
        np.testing.assert_array_equal(teacher[7:], student[4:])
        chosen.add(tuple(np.sort(student[4:, 0] // 100)))
        # the student's cloud and the draws after it are those of the
        # student's loaders alone
        np.random.seed(seed)
        ref = alone(copy.deepcopy(results))
        np.testing.assert_array_equal(ref['points'].tensor.numpy(), student)
        np.testing.assert_array_equal(np.random.get_state()[1], after)
    assert len(chosen) > 1  # the sweeps were drawn at random


def test_missing_teacher_frame_or_key(frame, tmp_path):
    results, _ = frame
    init_default_scope('mmdet3d')
    load = TRANSFORMS.build(
        dict(type='mmkd.LoadTeacherPoints', transforms=LOADERS))
    os.remove(tmp_path / 'samples/LIDAR_TOP_PATCHED/k.bin')
    with pytest.raises(FileNotFoundError,
                       match=r"LIDAR_TOP_PATCHED/k.bin'.*is missing; run "
                       'tools/dataset_converters/xray_object_complete.py'):
        load(copy.deepcopy(results))
    del results['lidar_points']['lidar_path_teacher']
    with pytest.raises(KeyError, match='no lidar_points.lidar_path_teacher'
                       '.*_xray-student.pkl'):
        load(results)


@pytest.fixture(scope='module')
def xray_root(tiny_simscenes, tmp_path_factory):
    return object_complete_root(
        tiny_simscenes, str(tmp_path_factory.mktemp('xray') / 'simscenes'))


def test_both_clouds_get_one_rotation_flip_and_scale(xray_root):
    """The X-Ray config's loading and augmentation on a SimScenes sample: a
    keyframe point, in both clouds, moves alike, by the recorded rotation,
    scale and flips (found by its intensity, which they keep)."""
    cfg = Config.fromfile(CONFIG)
    init_default_scope('mmdet3d')
    from mmdet3d.registry import DATASETS
    dataset_cfg = cfg.train_dataloader.dataset
    dataset_cfg.data_root = xray_root
    # loading, annotations, the shared augmentation (with the range
    # filter), without the shuffles and the packing
    assert [t['type'] for t in dataset_cfg.pipeline[:3]] == [
        'mmkd.LoadTeacherPoints', 'LoadAnnotations3D', 'mmkd.SharedAugment'
    ]
    dataset_cfg.pipeline = dataset_cfg.pipeline[:3]
    dataset = DATASETS.build(dataset_cfg)
    # a keyframe with sweeps (the first of a scene is padded with copies)
    info = next(dataset.get_data_info(i) for i in range(len(dataset))
                if dataset.get_data_info(i).get('lidar_sweeps'))
    keyframe = np.fromfile(info['lidar_points']['lidar_path'],
                           np.float32).reshape(-1, 5)
    # a point near the sensor (in range whatever the augmentation) whose
    # intensity no other keyframe point has
    near = np.abs(keyframe[:, :2]).max(1) < 30
    near &= (keyframe[:, 2] > -4) & (keyframe[:, 2] < 2)
    unique = np.unique(keyframe[:, 3], return_counts=True)
    unique = set(unique[0][unique[1] == 1])
    point = next(p for p in keyframe[near] if p[3] in unique)
    seen = set()
    for seed in range(6):
        random.seed(seed)
        np.random.seed(seed)
        results = copy.deepcopy(info)
        results.update(box_type_3d=dataset.box_type_3d,
                       box_mode_3d=dataset.box_mode_3d)
        out = dataset.pipeline(results)
        clouds = []
        for key in ('points', 'teacher_points'):
            cloud = out[key].tensor
            # the keyframe's points (the sweeps' time lag column is > 0)
            match = (cloud[:, 3] == float(point[3])) & (cloud[:, 4] == 0)
            assert int(match.sum()) == 1, key
            clouds.append(cloud[match][0, :3])
        rot = torch.as_tensor(out['pcd_rotation']).float()
        expected = torch.from_numpy(point[:3]) @ rot * out['pcd_scale_factor']
        if out['pcd_horizontal_flip']:
            expected[1] = -expected[1]
        if out['pcd_vertical_flip']:
            expected[0] = -expected[0]
        torch.testing.assert_close(clouds[0], expected, atol=1e-4, rtol=0)
        torch.testing.assert_close(clouds[1], clouds[0], atol=0, rtol=0)
        # the teacher's cloud holds more points (completed objects)
        assert len(out['teacher_points']) > len(out['points'])
        seen.add((out['pcd_horizontal_flip'], out['pcd_vertical_flip'],
                  round(out['pcd_scale_factor'], 3)))
    assert len(seen) > 2


@pytest.fixture(scope='module')
def xray_model(tmp_path_factory):
    """The X-Ray SimScenes DistillModel on 3.2 m pillars (a 32 x 32 grid,
    8 x 8 head maps), the teacher a copy of the student."""
    init_default_scope('mmdet3d')
    from mmdet3d.registry import MODELS
    cfg = Config.fromfile(CONFIG)
    model_cfg = shrink_distill_model(cfg.model, 3.2, 51.2)
    torch.manual_seed(0)
    student = MODELS.build(model_cfg.student)
    path = str(tmp_path_factory.mktemp('xray_teacher') / 'teacher.pth')
    torch.save(dict(state_dict=student.state_dict()), path)
    model_cfg.teacher_ckpt = path
    model = MODELS.build(model_cfg)
    model.student.load_state_dict(student.state_dict())
    return model


def one_batch(model, seed=0):
    """One sample's points in both views and one ground-truth car."""
    g = torch.Generator().manual_seed(seed)
    points = torch.rand(3000, 5, generator=g) * torch.tensor(
        [80., 80., 4., 1., 0.]) - torch.tensor([40., 40., 3., 0., 0.])
    sample = Det3DDataSample(metainfo=dict(box_type_3d=LiDARInstance3DBoxes))
    sample.gt_instances_3d = InstanceData(
        bboxes_3d=LiDARInstance3DBoxes(
            # about a cell centre of the 8 x 8 head maps
            torch.tensor([[6.4, 6.4, -1., 4.5, 2., 1.6, 0.4, 0., 0.]]),
            box_dim=9),
        labels_3d=torch.tensor([0]))
    data = dict(inputs=dict(points=points), data_samples=sample,
                teacher_inputs=dict(points=points.clone()))
    return model.data_preprocessor(pseudo_collate([data]), True)


def distill_losses(losses):
    return {k: v for k, v in losses.items() if k.startswith('distill.')}


def test_losses_are_zero_when_teacher_is_student(xray_model):
    model = xray_model
    # the student in eval mode: batch norm as the teacher's
    model.eval()
    try:
        losses = distill_losses(model(**one_batch(model), mode='loss'))
    finally:
        model.train()
    assert set(losses) == {
        'distill.loss_feature', 'distill.loss_heatmap',
        'distill.loss_regression'
    }
    for name, value in losses.items():
        assert float(value.detach()) == pytest.approx(0, abs=1e-10), name


def test_gradients_reach_only_the_student(xray_model):
    model = xray_model
    batch = one_batch(model, seed=1)
    # a teacher unlike the student (for this test only)
    saved = copy.deepcopy(model.teacher.state_dict())
    with torch.no_grad():
        for p in model.teacher.parameters():
            p.add_(0.1 * torch.randn_like(p))
    model.zero_grad()
    try:
        losses = distill_losses(model(**batch, mode='loss'))
    finally:
        model.teacher.load_state_dict(saved)
    assert all(float(v.detach()) > 0 for v in losses.values()), losses
    sum(losses.values()).backward()
    assert all(p.grad is None for p in model.teacher.parameters())
    head = model.student.pts_bbox_head.task_heads[0].heatmap[-1].weight
    neck = next(model.student.pts_neck.parameters())
    assert head.grad.abs().sum() > 0 and neck.grad.abs().sum() > 0
    model.zero_grad()


def test_regression_loss_is_averaged_inside_the_box_footprints(xray_model):
    """A hand-made 8 x 8 BEV map on +-51.2 m (12.8 m cells, centres at
    +-6.4, +-19.2, ...): a 40 x 16 m box at the origin turned by 90 degrees
    covers the cells of y within +-20 m (rows 2 to 5) and x within +-8 m
    (columns 3 and 4). The student is 1 off the teacher there and 100
    elsewhere."""
    distiller = xray_model.distiller
    sample = Det3DDataSample()
    sample.gt_instances_3d = InstanceData(
        bboxes_3d=LiDARInstance3DBoxes(
            torch.tensor([[0., 0., 0., 40., 16., 2., np.pi / 2]])))
    inside = torch.zeros(1, 1, 8, 8, dtype=torch.bool)
    inside[..., 2:6, 3:5] = True  # rows along y, columns along x
    mask = distiller.loss_masks['regression'][0]([sample], (8, 8), 'cpu')
    assert torch.equal(mask.bool(), inside)

    def maps(value_in, value_out, channels):
        return torch.where(inside, value_in, value_out).expand(
            1, channels, 8, 8).clone()

    student, teacher = {}, {}
    for name in distiller.loss_routes['regression']['student']:
        channels = 3 if name.startswith('dim') else 1 if name.startswith(
            'height') else 2
        student[name] = maps(1., 100., channels)
        teacher[name] = torch.zeros(1, channels, 8, 8)
    for name in ('neck', *distiller.loss_routes['heatmap']['student']):
        student[name] = teacher[name] = torch.zeros(1, 2, 8, 8)
    losses = distiller.compute_distill_losses(student, teacher, [sample])
    weight = distiller.losses['regression'].loss_weight
    # 30 maps, each averaged over its masked cells: |1 - 0| = 1
    torch.testing.assert_close(losses['distill.loss_regression'],
                               torch.tensor(30. * weight))
    assert losses['distill.loss_feature'] == 0


def predictions(scores, labels):
    """Teacher predictions: one 9-d box per score, 2 m apart."""
    sample = Det3DDataSample()
    n = len(scores)
    boxes = torch.zeros(n, 9)
    boxes[:, 0] = torch.arange(n) * 2.
    boxes[:, 3:6] = torch.tensor([4., 2., 1.5])
    sample.pred_instances_3d = InstanceData(
        bboxes_3d=LiDARInstance3DBoxes(boxes, box_dim=9),
        scores_3d=torch.tensor(scores),
        labels_3d=torch.tensor(labels))
    return sample


def ground_truth():
    sample = Det3DDataSample()
    sample.gt_instances_3d = InstanceData(
        bboxes_3d=LiDARInstance3DBoxes(
            torch.tensor([[6.4, 6.4, -1., 4.5, 2., 1.6, 0.4, 0., 0.]]),
            box_dim=9),
        labels_3d=torch.tensor([3]))
    return sample


def test_teacher_boxes_over_the_threshold_join_the_ground_truth():
    from mmkd.methods.xray import append_teacher_boxes
    samples = [ground_truth(), ground_truth()]
    added = append_teacher_boxes(
        samples, [predictions([0.9, 0.2, 0.3], [0, 1, 2]),
                  predictions([0.1], [4])], score_thr=0.3)
    assert added == [2, 0]
    first = samples[0].gt_instances_3d
    assert first.labels_3d.tolist() == [3, 0, 2]
    assert first.bboxes_3d.tensor[1:, 0].tolist() == [0., 4.]
    assert len(samples[1].gt_instances_3d) == 1
    with pytest.raises(ValueError, match='7-d boxes, the ground truth has '
                       '9-d'):
        bad = predictions([0.9], [0])
        bad.pred_instances_3d.bboxes_3d = LiDARInstance3DBoxes(
            torch.zeros(1, 7))
        append_teacher_boxes([ground_truth()], [bad], 0.3)


def test_detection_term_predicts_with_the_teacher_view_and_taps_off(
        tmp_path):
    """mmkd.XRayDistillModel: the teacher predicts on its own inputs with
    its taps off (the real CenterPoint, then hand-made predictions), its
    confident boxes join the student's targets, the distill losses are
    unchanged; bad settings are refused."""
    init_default_scope('mmdet3d')
    from mmdet3d.registry import MODELS
    cfg = Config.fromfile(
        CONFIG.replace('/xray_centerpoint', '/xray-det_centerpoint'))
    model_cfg = shrink_distill_model(cfg.model, 3.2, 51.2)
    assert model_cfg.detection_term == dict(score_thr=0.3)
    # the teacher decodes its top 32 of 8 x 8 cells per task
    model_cfg.teacher.pts_bbox_head.bbox_coder.max_num = 32
    torch.manual_seed(0)
    student = MODELS.build(model_cfg.student)
    model_cfg.teacher_ckpt = str(tmp_path / 'teacher.pth')
    torch.save(dict(state_dict=student.state_dict()), model_cfg.teacher_ckpt)
    model = MODELS.build(model_cfg)
    assert type(model).__name__ == 'XRayDistillModel'
    batch = one_batch(model)
    losses = model(**batch, mode='loss')
    assert set(distill_losses(losses)) == {
        'distill.loss_feature', 'distill.loss_heatmap',
        'distill.loss_regression'
    }
    assert float(losses['xray.teacher_boxes']) >= 0

    seen = {}

    def fake_predict(inputs, data_samples, **kwargs):
        seen['taps'] = model.distiller.teacher_taps.enabled
        seen['inputs'] = inputs
        return [predictions([0.8, 0.1], [1, 2]) for _ in data_samples]

    model.teacher.predict = fake_predict
    batch = one_batch(model, seed=1)
    losses = model(**batch, mode='loss')
    assert seen['taps'] is False and model.distiller.teacher_taps.enabled
    assert seen['inputs'] is batch['teacher_inputs']
    (sample, ) = batch['data_samples']
    assert sample.gt_instances_3d.labels_3d.tolist() == [0, 1]
    assert float(losses['xray.teacher_boxes']) == 1
    assert all(v.isfinite() for k, v in losses.items())

    for bad, error in ((dict(thr=0.3), KeyError), (dict(score_thr=0),
                                                  ValueError)):
        with pytest.raises(error, match='detection_term'):
            MODELS.build(dict(model_cfg, detection_term=bad))
