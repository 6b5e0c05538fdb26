# Copyright (c) mmkd contributors. All rights reserved.
"""tools/dataset_converters/xray_object_complete.py on a ``--tiny``
SimScenes: the in-box counts equal SimScenes' ``num_lidar_pts`` exactly,
mmdet3d's unmodified ``NuScenesDataset`` reads the teacher's infos (the
patched keyframes, the sweeps unchanged), objects gain points."""
import importlib.util
import os.path as osp
import shutil

import mmengine
import numpy as np
import pytest

from mmkd.datasets.lidar_frames import points_in_box
from mmkd.methods.xray import TEACHER_PATH_KEY

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PIPELINE = [
    dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5,
         use_dim=5),
    dict(type='LoadPointsFromMultiSweeps', sweeps_num=10,
         use_dim=[0, 1, 2, 3, 4], pad_empty_sweeps=True, remove_close=True),
]


def load_tool():
    spec = importlib.util.spec_from_file_location(
        'xray_object_complete',
        osp.join(ROOT, 'tools', 'dataset_converters',
                 'xray_object_complete.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def patched_root(tiny_simscenes, tmp_path_factory):
    """A copy of the tiny SimScenes (the session's must not change) with
    its Object-Complete frames, every count checked exactly."""
    root = str(tmp_path_factory.mktemp('xray') / 'simscenes')
    shutil.copytree(tiny_simscenes, root)
    load_tool().main([root, '--count-atol', '0', '--count-rtol', '0'])
    return root


def dataset(root, ann_file):
    from mmdet3d.datasets import NuScenesDataset
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet3d')
    return NuScenesDataset(
        data_root=root, ann_file=ann_file,
        data_prefix=dict(pts='samples/LIDAR_TOP', sweeps='sweeps/LIDAR_TOP'),
        modality=dict(use_lidar=True, use_camera=False),
        metainfo=dict(version='v1.0-mini'), pipeline=PIPELINE,
        test_mode=True, serialize_data=False)  # its gc.collect: 1.4 s


def test_tool_reports_time_and_bytes(tiny_simscenes, tmp_path, capsys):
    root = str(tmp_path / 'simscenes')
    shutil.copytree(tiny_simscenes, root)
    load_tool().main([root, '--infos', f'{root}/simscenes_infos_val.pkl',
                      '--window', '1', '--exclude-classes', 'pedestrian'])
    out = capsys.readouterr().out
    assert 'simscenes_infos_val.pkl: 3 keyframes' in out
    assert 'MB written in' in out and ' s\n' in out
    assert not osp.exists(f'{root}/simscenes_infos_train_xray-teacher.pkl')
    settings = mmengine.load(f'{root}/simscenes_infos_val_xray-teacher.pkl'
                             )['metainfo']['object_complete']
    assert settings['window'] == 1
    assert settings['exclude_classes'] == ['pedestrian']


def test_tool_refuses_a_negative_window(capsys):
    with pytest.raises(SystemExit):
        load_tool().parse_args(['root', '--window', '-1'])
    assert '--window must be >= 0' in capsys.readouterr().err


@pytest.mark.parametrize('split', ['train', 'val'])
def test_teacher_trains_on_patched_frames_with_unchanged_sweeps(
        patched_root, split):
    student = dataset(patched_root, f'simscenes_infos_{split}.pkl')
    teacher = dataset(patched_root,
                      f'simscenes_infos_{split}_xray-teacher.pkl')
    assert len(teacher) == len(student) == 3
    gained = 0
    for index in range(3):
        s_info, t_info = (student.get_data_info(index),
                          teacher.get_data_info(index))
        assert osp.normpath(t_info['lidar_path']) == osp.join(
            patched_root, 'samples', 'LIDAR_TOP_PATCHED',
            osp.basename(s_info['lidar_path']))
        assert [s['lidar_points']['lidar_path']
                for s in t_info.get('lidar_sweeps', [])] == [
                    s['lidar_points']['lidar_path']
                    for s in s_info.get('lidar_sweeps', [])]
        s_points = student[index]['points'].tensor.numpy()
        t_points = teacher[index]['points'].tensor.numpy()
        s_key = np.fromfile(s_info['lidar_path'], np.float32).reshape(-1, 5)
        t_key = np.fromfile(t_info['lidar_path'], np.float32).reshape(-1, 5)
        added = len(t_key) - len(s_key)
        assert added > 0
        # the sweeps are the same; a keyframe without sweeps (a scene's
        # first) is padded with 10 copies of itself (pad_empty_sweeps)
        copies = 1 if s_info.get('lidar_sweeps') else 11
        assert len(t_points) - len(s_points) == copies * added
        np.testing.assert_array_equal(t_key[:len(s_key), :4], s_key[:, :4])
        for instance in s_info['instances']:
            before = points_in_box(s_key[:, :3], instance['bbox_3d']).sum()
            after = points_in_box(t_key[:, :3], instance['bbox_3d']).sum()
            assert before == instance['num_lidar_pts']
            assert after >= before
            gained += after > before
    assert gained > 0


def test_student_infos_name_the_teacher_cloud(patched_root):
    student = mmengine.load(
        f'{patched_root}/simscenes_infos_train_xray-student.pkl')
    original = mmengine.load(f'{patched_root}/simscenes_infos_train.pkl')
    for info, before in zip(student['data_list'], original['data_list']):
        lidar = info['lidar_points']
        assert lidar['lidar_path'] == before['lidar_points']['lidar_path']
        assert osp.isfile(
            osp.join(patched_root, 'samples', 'LIDAR_TOP',
                     lidar[TEACHER_PATH_KEY]))
    assert TEACHER_PATH_KEY not in original['data_list'][0]['lidar_points']
