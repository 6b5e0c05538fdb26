# Copyright (c) mmkd contributors. All rights reserved.
"""SimScenes physics: rays, occlusion, LiDAR points on the boxes, cameras
that agree with the LiDAR."""
import os
import os.path as osp

import numpy as np
import pytest
import torch

from mmkd.datasets.sim_scenes import (CAMERAS, GROUND, LIDAR2EGO, NOTHING,
                                      Scene, Track, camera_calibration,
                                      cast_rays, points_in_boxes, render,
                                      scan)


def empty_scene(tracks=(), heading=0.0, origin=(0.0, 0.0)):
    return Scene(name='test', duration=1.0, ego_speed=0.0, ego_lane_y=0.0,
                 origin=np.array(origin, float), heading=heading,
                 structures=np.zeros((0, 7)), tracks=list(tracks))


def car(x, y, yaw_dir=1.0):
    return Track('car', (4.0, 2.0, 1.5), x, y, 0.0, yaw_dir)


def test_ray_hits_box_face_and_ground():
    box = np.array([[10.0, 0.0, 0.0, 2.0, 2.0, 2.0, 0.0]])
    dirs = np.array([[1.0, 0, 0], [0, 1.0, 0], [1.0, 0, -1.0]])
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    dist, hit, face = cast_rays(np.array([0.0, 0.0, 1.0]), dirs, box, 100)
    assert dist[0] == pytest.approx(9.0) and hit[0] == 0 and face[0] == -1
    assert hit[1] == NOTHING and np.isinf(dist[1])
    assert hit[2] == GROUND and dist[2] == pytest.approx(np.sqrt(2))


def test_rotated_box_distance():
    # a 4 m long box rotated by 90 degrees presents its 2 m wide side
    box = np.array([[10.0, 0.0, 0.0, 4.0, 2.0, 2.0, np.pi / 2]])
    dist, hit, _ = cast_rays(np.array([0.0, 0.0, 1.0]),
                             np.array([[1.0, 0.0, 0.0]]), box, 100)
    assert hit[0] == 0 and dist[0] == pytest.approx(9.0)


def test_hidden_object_gets_no_points():
    """A car right behind a truck (seen from the LiDAR, above its roof) is
    not hit; the truck's points lie on its box."""
    truck = Track('truck', (6.0, 2.6, 3.2), 10.0, 0.0, 0.0, 1.0)
    scene = empty_scene([truck, car(17.0, 0.0), car(0.0, 12.0)])
    points, track = scan(scene, 0.0, np.random.default_rng(0),
                         range_noise=0.0)
    counts = np.bincount(track[track >= 0], minlength=3)
    assert counts[0] > 50 and counts[2] > 50
    assert counts[1] == 0
    # back to the global frame: the truck's points are inside its box
    sensor2global = scene.ego_pose(0.0) @ LIDAR2EGO
    xyz = points[:, :3] @ sensor2global[:3, :3].T + sensor2global[:3, 3]
    boxes, _, _ = scene.boxes(0.0)
    inside = points_in_boxes(xyz[track == 0], boxes[:1], margin=1e-3)
    assert inside.all()
    # and the ring index is the beam of each point
    elevation = np.degrees(np.arcsin(points[:, 2] /
                                     np.linalg.norm(points[:, :3], axis=1)))
    ring = points[:, 4].astype(int)
    assert np.allclose(elevation, np.linspace(10.67, -30.67, 32)[ring],
                       atol=1e-3)


def test_camera_sees_lidar_points_of_a_box_on_its_pixels():
    """Project the LiDAR points of a car into CAM_FRONT: each lands on a
    pixel rendered with the car's colour."""
    scene = empty_scene([car(12.0, 1.0)], heading=0.7, origin=(30.0, -5.0))
    points, track = scan(scene, 0.0, np.random.default_rng(0),
                         range_noise=0.0)
    cam2ego, cam2img = camera_calibration('CAM_FRONT', 0.25)
    img = render(scene, 0.0, 'CAM_FRONT', 0.25, np.random.default_rng(0))
    lidar2cam = np.linalg.inv(cam2ego) @ LIDAR2EGO
    on_car = points[track == 0, :3]
    cam = on_car @ lidar2cam[:3, :3].T + lidar2cam[:3, 3]
    uv = cam @ cam2img.T
    uv = (uv[:, :2] / uv[:, 2:]).astype(int)
    assert (cam[:, 2] > 0).all() and len(uv) > 50
    red = img[uv[:, 1], uv[:, 0]].astype(int)
    # the car's red (shaded, darker windows) vs grey road and blue sky
    assert (red[:, 0] > red[:, 2] + 10).mean() > 0.95


@pytest.fixture
def tiny_root(tiny_simscenes):
    """The session's tiny SimScenes (tests/conftest.py); tests that change
    files copy it first."""
    return tiny_simscenes


def test_devkit_reads_tables_and_tracks_are_consistent(tiny_root):
    from nuscenes.nuscenes import NuScenes
    nusc = NuScenes('v1.0-mini', tiny_root, verbose=False)
    assert [s['name'] for s in nusc.scene] == ['scene-0061', 'scene-0103']
    moved = 0
    for instance in nusc.instance:
        ann = nusc.get('sample_annotation', instance['first_annotation_token'])
        while ann['next']:
            nxt = nusc.get('sample_annotation', ann['next'])
            assert nxt['instance_token'] == instance['token']
            step = (np.array(nxt['translation']) -
                    np.array(ann['translation']))
            t0 = nusc.get('sample', ann['sample_token'])['timestamp']
            t1 = nusc.get('sample', nxt['sample_token'])['timestamp']
            speed = np.linalg.norm(step) / ((t1 - t0) / 1e6)
            assert speed < 15  # smooth tracks, no teleporting
            assert nxt['size'] == ann['size']
            moved += np.linalg.norm(step) > 0.1
            ann = nxt
    assert moved > 10


def test_num_lidar_pts_counts_the_points_in_each_box(tiny_root):
    from nuscenes.nuscenes import NuScenes
    from nuscenes.utils.data_classes import LidarPointCloud
    nusc = NuScenes('v1.0-mini', tiny_root, verbose=False)
    sample = nusc.sample[1]
    lidar = nusc.get('sample_data', sample['data']['LIDAR_TOP'])
    _, boxes, _ = nusc.get_sample_data(lidar['token'])
    pc = LidarPointCloud.from_file(osp.join(tiny_root, lidar['filename']))
    from nuscenes.utils.geometry_utils import points_in_box
    nonzero = 0
    for box in boxes:
        ann = nusc.get('sample_annotation', box.token)
        count = int(points_in_box(box, pc.points[:3]).sum())
        assert count == ann['num_lidar_pts'], box.token
        nonzero += count > 0
    assert nonzero > 5


def nuscenes_dataset(root, split, pipeline=()):
    from mmdet3d.datasets import NuScenesDataset
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet3d')
    cams = {c: f'samples/{c}' for c in CAMERAS}
    return NuScenesDataset(
        data_root=root, ann_file=f'simscenes_infos_{split}.pkl',
        data_prefix=dict(pts='samples/LIDAR_TOP', sweeps='sweeps/LIDAR_TOP',
                         **cams),
        modality=dict(use_lidar=True, use_camera=True),
        # the class default is v1.0-trainval; NuScenesMetric reads this
        metainfo=dict(version='v1.0-mini'),
        pipeline=list(pipeline))


def test_mmdet3d_nuscenes_dataset_loads_infos(tiny_root):
    pipeline = [
        dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5,
             use_dim=5),
        dict(type='LoadPointsFromMultiSweeps', sweeps_num=10,
             use_dim=[0, 1, 2, 3, 4], pad_empty_sweeps=True,
             remove_close=True),
        dict(type='LoadMultiViewImageFromFiles', to_float32=True,
             num_views=6),
        dict(type='LoadAnnotations3D', with_bbox_3d=True,
             with_label_3d=True),
        dict(type='Pack3DDetInputs', keys=['points', 'img', 'gt_bboxes_3d',
                                           'gt_labels_3d'])
    ]
    ds = nuscenes_dataset(tiny_root, 'train', pipeline)
    assert len(ds) == 3
    item = ds[2]
    inputs, sample = item['inputs'], item['data_samples']
    assert inputs['points'].shape[1] == 5 and len(inputs['img']) == 6
    assert len(sample.gt_instances_3d.bboxes_3d) > 5
    info = ds.get_data_info(2)
    assert info['frame_idx'] == 2 and info['next'] == ''
    assert all('instance_token' in i for i in info['instances'])


def nuscenes_map(root, tmp_path, predict):
    """mmdet3d's NuScenesMetric (the nuScenes devkit's detection eval) on
    the val split, with predictions ``predict(gt_boxes, gt_labels)``."""
    from mmdet3d.evaluation import NuScenesMetric
    ds = nuscenes_dataset(root, 'val')
    metric = NuScenesMetric(
        data_root=root, ann_file=osp.join(root, 'simscenes_infos_val.pkl'),
        jsonfile_prefix=str(tmp_path / 'results'))
    metric.dataset_meta = ds.metainfo
    for i in range(len(ds)):
        ann = ds.get_data_info(i)['ann_info']
        keep = ann['gt_labels_3d'] >= 0
        boxes, labels = predict(ann['gt_bboxes_3d'][keep],
                                ann['gt_labels_3d'][keep])
        pred = dict(bboxes_3d=boxes, labels_3d=torch.as_tensor(labels),
                    scores_3d=torch.ones(len(labels)))
        metric.process({}, [dict(pred_instances_3d=pred, pred_instances={},
                                 sample_idx=i)])
    result = metric.compute_metrics(metric.results)
    return {k.split('/')[-1]: v for k, v in result.items()}


SIM_CLASSES = ('car', 'truck', 'pedestrian', 'bicycle', 'barrier',
               'traffic_cone')


def test_nuscenes_metric_ground_truth_scores_one(tiny_root, tmp_path):
    """Ground truth as predictions: AP 1 for every SimScenes class; the
    nuScenes mAP averages all 10 classes, the 4 absent ones scoring 0."""
    result = nuscenes_map(tiny_root, tmp_path,
                          lambda boxes, labels: (boxes, labels))
    for name in SIM_CLASSES:
        assert result[f'{name}_AP_dist_0.5'] == 1.0, name
        assert result[f'{name}_trans_err'] == 0.0, name
    assert result['mAP'] == pytest.approx(0.6)


def test_nuscenes_metric_random_boxes_score_zero(tiny_root, tmp_path):
    from mmdet3d.structures import LiDARInstance3DBoxes
    rng = np.random.default_rng(0)

    def scatter(boxes, labels):
        tensor = boxes.tensor.clone()
        tensor[:, :2] = torch.as_tensor(rng.uniform(-40, 40, (len(tensor),
                                                               2)))
        return LiDARInstance3DBoxes(tensor, box_dim=tensor.shape[1]), labels

    result = nuscenes_map(tiny_root, tmp_path, scatter)
    assert result['mAP'] < 0.05


def test_bad_roots_and_info_files(tiny_root, tmp_path):
    import pickle
    import shutil

    from mmkd.datasets.sim_scenes.infos import (add_sequence_fields,
                                                check_infos,
                                                check_nuscenes_root)

    # mmdet3d's sample: v2 infos and files, but no nuScenes tables
    sample = osp.join(osp.dirname(__file__), '..', '..', '..', 'shared',
                      'data', 'mmdet3d_samples', 'nuscenes')
    if osp.isdir(sample):
        with pytest.raises(FileNotFoundError,
                           match=r'not a nuScenes dataroot .*scene\.json'):
            check_nuscenes_root(sample, 'v1.0-trainval')
    # an info file of mmdet3d < 1.1
    old = tmp_path / 'old.pkl'
    with open(old, 'wb') as f:
        pickle.dump(dict(infos=[], metadata=dict(version='v1.0-mini')), f)
    with pytest.raises(ValueError, match=r"old\.pkl.*no `data_list` "
                       r"\(found \['infos', 'metadata'\]\)"):
        add_sequence_fields(str(old), None)
    # a sweep file gone missing
    copy = tmp_path / 'root'
    shutil.copytree(tiny_root, copy, symlinks=True)
    info_file = str(copy / 'simscenes_infos_train.pkl')
    check_infos(info_file, str(copy))
    sweep = sorted((copy / 'sweeps' / 'LIDAR_TOP').iterdir())[0]
    sweep.unlink()
    with pytest.raises(FileNotFoundError,
                       match=rf'lidar_sweeps\[\d\]\.lidar_points\.lidar_path '
                       rf'names .*{sweep.name}'):
        check_infos(info_file, str(copy))


def test_converter_tool_on_a_relative_root(tmp_path, monkeypatch):
    """The entry point, as a user runs it: a dataroot relative to the
    working directory (mmdet3d's update step changes directory). Run again
    from another folder it writes the same files byte for byte: benchmark
    records count on generated data being the same on every machine (the
    infos hold the root's last two folders in sweep paths, so the same
    relative root)."""
    import runpy
    import sys
    tool = osp.join(osp.dirname(__file__), '..', '..', 'tools',
                    'dataset_converters', 'sim_scenes.py')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, 'argv', [tool, 'data/sim', '--tiny'])
    runpy.run_path(tool, run_name='__main__')
    import mmengine
    infos = mmengine.load('data/sim/simscenes_infos_val.pkl')
    assert len(infos['data_list']) == 3
    assert infos['data_list'][0]['scene_name'] == 'scene-0103'

    again = tmp_path / 'again'
    again.mkdir()
    monkeypatch.chdir(again)
    runpy.run_path(tool, run_name='__main__')

    def files(root):
        return sorted(
            osp.relpath(osp.join(d, f), root) for d, _, names in os.walk(root)
            for f in names)

    first = str(tmp_path / 'data' / 'sim')
    assert files('data/sim') == files(first)
    for name in files(first):
        with open(osp.join('data/sim', name), 'rb') as a, \
                open(osp.join(first, name), 'rb') as b:
            assert a.read() == b.read(), name


def test_add_sequence_fields_to_existing_infos(tiny_root, tmp_path,
                                               monkeypatch):
    """``--add-to``: infos written without the fields get them back,
    equal to those create_infos wrote."""
    import runpy
    import sys

    import mmengine
    original = mmengine.load(osp.join(tiny_root,
                                      'simscenes_infos_train.pkl'))
    stripped = mmengine.load(osp.join(tiny_root,
                                      'simscenes_infos_train.pkl'))
    from mmkd.datasets.sim_scenes.infos import (INSTANCE_FIELDS,
                                                SEQUENCE_FIELDS)
    assert original['metainfo']['instance_fields'] == list(INSTANCE_FIELDS)
    for info in stripped['data_list']:
        for key in SEQUENCE_FIELDS:
            del info[key]
        for instance in info['instances']:
            for key in INSTANCE_FIELDS:
                del instance[key]
    info_file = str(tmp_path / 'infos.pkl')
    mmengine.dump(stripped, info_file)
    tool = osp.join(osp.dirname(__file__), '..', '..', 'tools',
                    'dataset_converters', 'sim_scenes.py')
    monkeypatch.setattr(sys, 'argv', [tool, tiny_root, '--add-to',
                                      info_file])
    runpy.run_path(tool, run_name='__main__')
    restored = mmengine.load(info_file)['data_list']
    for got, want in zip(restored, original['data_list']):
        assert {k: got[k] for k in SEQUENCE_FIELDS} == {
            k: want[k] for k in SEQUENCE_FIELDS}
        assert [[i[k] for k in INSTANCE_FIELDS] for i in got['instances']
                ] == [[i[k] for k in INSTANCE_FIELDS]
                      for i in want['instances']]


def test_infos_need_all_six_cameras(tmp_path):
    from mmkd.datasets.sim_scenes.generate import SIZES, make_sim_scenes
    from mmkd.datasets.sim_scenes.infos import create_infos
    root = make_sim_scenes(str(tmp_path), cameras=['CAM_FRONT'],
                           **SIZES['tiny'])
    with pytest.raises(ValueError, match=r"all six cameras.*'CAM_BACK'"):
        create_infos(root)
