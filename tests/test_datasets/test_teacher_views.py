# Copyright (c) mmkd contributors. All rights reserved.
"""Teacher views: both views get the same random augmentation, and the
packed batch carries the teacher's inputs."""
import copy

import numpy as np
import pytest
import torch
from mmdet3d.structures import LiDARInstance3DBoxes, LiDARPoints

from mmkd.registry import TRANSFORMS

POINT_AUG = [
    dict(type='mmdet3d.RandomFlip3D', flip_ratio_bev_horizontal=0.5,
         flip_ratio_bev_vertical=0.5),
    dict(type='mmdet3d.GlobalRotScaleTrans', rot_range=[-0.8, 0.8],
         scale_ratio_range=[0.9, 1.1], translation_std=[0.5, 0.5, 0.1]),
]


def lidar_results(seed=0):
    rng = np.random.RandomState(seed)
    dense = rng.uniform(-20, 20, (400, 4)).astype(np.float32)
    # the student sees every fourth point of the teacher's cloud
    return dict(
        lidar_path=f'frame_{seed}.bin',
        points=LiDARPoints(dense[::4].copy(), points_dim=4),
        teacher_points=LiDARPoints(dense.copy(), points_dim=4),
        gt_bboxes_3d=LiDARInstance3DBoxes(
            torch.tensor([[1., 2., -1., 4., 2., 1.5, 0.3]])),
        gt_labels_3d=np.array([0]),
        bbox3d_fields=[],
        pts_mask_fields=[],
        pts_seg_fields=[],
        transformation_3d_flow=[])


def test_points_pair_gets_one_rotation_flip_scale_translation():
    aug = TRANSFORMS.build(
        dict(type='mmkd.SharedAugment', views=dict(points='teacher_points'),
             transforms=POINT_AUG))
    flips = set()
    for seed in range(8):
        np.random.seed(seed)
        results = lidar_results(seed)
        original = results['teacher_points'].tensor.clone()
        out = aug(results)
        student = out['points'].tensor
        teacher = out['teacher_points'].tensor
        assert not torch.allclose(teacher, original)  # it was augmented
        # the same points moved the same way, to float precision
        torch.testing.assert_close(student, teacher[::4], atol=1e-5,
                                   rtol=0)
        flips.add((out['pcd_horizontal_flip'], out['pcd_vertical_flip']))
        # and numerically: R, s and t recorded once map the teacher's cloud
        rot = torch.as_tensor(out['pcd_rotation']).float()
        xyz = original[:, :3].clone()
        if out['pcd_horizontal_flip']:
            xyz[:, 1] = -xyz[:, 1]
        if out['pcd_vertical_flip']:
            xyz[:, 0] = -xyz[:, 0]
        expected = xyz @ rot * out['pcd_scale_factor'] + torch.as_tensor(
            out['pcd_trans']).float()
        torch.testing.assert_close(teacher[:, :3], expected, atol=1e-4,
                                   rtol=0)
    assert len(flips) > 1  # both flip states were drawn


def test_weak_strong_image_views():
    aug = TRANSFORMS.build(
        dict(type='mmkd.SharedAugment', views=dict(img='teacher_img'),
             transforms=[dict(type='mmdet.RandomFlip', prob=0.5),
                         dict(type='mmdet.RandomCrop', crop_size=(24, 20))]))
    img = np.random.RandomState(0).randint(0, 255, (32, 40, 3)).astype(
        np.uint8)
    flips = set()
    for seed in range(6):
        np.random.seed(seed)
        # another view of the same pixels: the inverted image
        out = aug(dict(img=img.copy(), teacher_img=255 - img,
                       img_shape=img.shape[:2], img_path=f'{seed}.png'))
        assert out['img'].shape == out['teacher_img'].shape == (20, 24, 3)
        np.testing.assert_array_equal(out['teacher_img'], 255 - out['img'])
        flips.add(out['flip'])
    assert flips == {True, False}


def test_copy_view_is_independent():
    results = dict(img=np.zeros((2, 2, 3), np.uint8), img_path='a.png')
    out = TRANSFORMS.build(
        dict(type='mmkd.CopyView', views=dict(img='teacher_img')))(results)
    out['img'] += 7  # a student-only augmentation
    assert out['teacher_img'].max() == 0
    with pytest.raises(KeyError, match="'a.png' has no 'points'"):
        TRANSFORMS.build(dict(type='mmkd.CopyView',
                              views=dict(points='t')))(out)


def test_not_shared_augmentation_is_refused():
    # a point sampler draws over the cloud: other sizes, other draws
    aug = TRANSFORMS.build(
        dict(type='mmkd.SharedAugment', views=dict(points='teacher_points'),
             transforms=[dict(type='mmdet3d.PointSample', num_points=50)]))
    with pytest.raises(ValueError, match=r"not shared for lidar_path="
                       r"'frame_0.bin'"):
        aug(lidar_results())
    with pytest.raises(KeyError, match=r"has no 'teacher_points'"):
        results = lidar_results()
        del results['teacher_points']
        aug(results)
    with pytest.raises(TypeError, match='views must map'):
        TRANSFORMS.build(dict(type='mmkd.SharedAugment', views=None,
                              transforms=POINT_AUG))


def test_pack_adds_teacher_inputs():
    pack = TRANSFORMS.build(
        dict(type='mmkd.PackTeacherView',
             views=dict(points='teacher_points'),
             pack=dict(type='mmdet3d.Pack3DDetInputs',
                       keys=['points', 'gt_bboxes_3d', 'gt_labels_3d'])))
    results = lidar_results()
    teacher = copy.deepcopy(results['teacher_points'].tensor)
    packed = pack(results)
    assert torch.equal(packed['teacher_inputs']['points'], teacher)
    assert torch.equal(packed['inputs']['points'], teacher[::4])
    assert len(packed['data_samples'].gt_instances_3d) == 1
