# Copyright (c) mmkd contributors. All rights reserved.
"""X-Ray's Object-Complete frames on a hand-made scene: three keyframes of
a moving, turning ego with a nuScenes-like LiDAR mounting, a car driving
and turning in front of it (seen whole, occluded, half), a cone seen once
and ground points around; points made by hand in the objects' frames."""
import hashlib
import os.path as osp

import mmengine
import numpy as np
import pytest

from mmkd.datasets.lidar_frames import (box_to_sensor, points_in_box,
                                        sensor_to_global, transform_points)
from mmkd.methods.xray import (TEACHER_PATH_KEY, check_infos,
                               complete_scene, make_object_complete)

#: nuScenes' LIDAR_TOP mounting: x right, y forward, on the roof
LIDAR2EGO = np.array([[0.0, 1.0, 0.0, 0.94], [-1.0, 0.0, 0.0, 0.0],
                      [0.0, 0.0, 1.0, 1.84], [0.0, 0.0, 0.0, 1.0]])
CAR, CONE = 'car-track', 'cone-track'
CAR_SIZE, CONE_SIZE = (4.0, 2.0, 1.5), (0.4, 0.4, 0.8)
#: the car's points seen in each keyframe (all, occluded, half)
CAR_SEEN = (40, 6, 20)
CATEGORIES = {'car': 0, 'traffic_cone': 8}


def pose(x, y, yaw, z=0.0):
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0, x], [s, c, 0, y], [0, 0, 1, z],
                     [0, 0, 0, 1.0]])


def car_surface(num, rng):
    """Points strictly inside the car's box (box frame), 2 cm from its
    faces, so that float32 rounding cannot move them across one."""
    half = np.array(CAR_SIZE) / 2 - 0.02
    return rng.uniform(-half, half, (num, 3))


def make_frames():
    """Three keyframes; returns the frames for :func:`complete_scene` and
    the car's points in its box frame per keyframe."""
    rng = np.random.default_rng(0)
    car_points = [car_surface(n, rng) for n in CAR_SEEN]
    frames = []
    for k in range(3):
        ego2global = pose(600.0 + 5 * k, 1200.0 + 1.5 * k, 0.3 + 0.05 * k)
        sensor2global = ego2global @ LIDAR2EGO
        global2sensor = np.linalg.inv(sensor2global)
        # the car drives and turns; its box is known in the global frame
        car2global = pose(615.0 + 7 * k, 1206.0 + 3 * k, 0.2 + 0.1 * k,
                          z=0.75)
        car2sensor = global2sensor @ car2global
        car_xyz = transform_points(car_points[k], car2sensor)
        instances = [
            dict(instance_token=CAR, bbox_3d=_bbox(car2sensor, CAR_SIZE),
                 bbox_label=0, num_lidar_pts=CAR_SEEN[k])
        ]
        xyz = [car_xyz]
        if k == 1:  # a cone in the second keyframe only
            cone2sensor = global2sensor @ pose(605.0, 1195.0, 1.0, z=0.4)
            cone = rng.uniform(-0.15, 0.15, (5, 3))
            xyz.append(transform_points(cone, cone2sensor))
            instances.append(
                dict(instance_token=CONE,
                     bbox_3d=_bbox(cone2sensor, CONE_SIZE), bbox_label=8,
                     num_lidar_pts=5))
        ground = rng.uniform([-30, -30, -1.9], [30, 30, -1.7], (200, 3))
        for instance in instances:
            ground = ground[~points_in_box(ground, instance['bbox_3d'])]
        xyz.insert(0, ground)
        xyz = np.concatenate(xyz)
        points = np.concatenate([
            xyz,
            rng.uniform(0, 255, (len(xyz), 1)),
            rng.integers(0, 32, (len(xyz), 1))
        ], 1).astype(np.float32)
        frames.append(
            dict(token=f'sample-{k}', points=points,
                 sensor2global=sensor2global, instances=instances))
    return frames, car_points


def _bbox(box2sensor, size):
    """mmdet3d's (x, y, z, l, w, h, yaw) of a box pose (yaw only)."""
    yaw = np.arctan2(box2sensor[1, 0], box2sensor[0, 0])
    return [*box2sensor[:3, 3], *size, yaw]


def in_car(points, frame):
    return points_in_box(points[:, :3], frame['instances'][0]['bbox_3d'])


def test_box_global_sensor_round_trip_is_identity():
    frames, _ = make_frames()
    rng = np.random.default_rng(1)
    xyz = rng.uniform(-20, 20, (100, 3))
    for frame in frames:
        sensor2global = frame['sensor2global']
        info = dict(ego2global=sensor2global @ np.linalg.inv(LIDAR2EGO),
                    lidar_points=dict(lidar2ego=LIDAR2EGO))
        np.testing.assert_allclose(sensor_to_global(info), sensor2global,
                                   atol=1e-12)
        box2global = sensor2global @ box_to_sensor(
            frame['instances'][0]['bbox_3d'])
        # box -> global -> ego -> sensor, then back to the box
        xyz_sensor = transform_points(
            transform_points(xyz, box2global), np.linalg.inv(sensor2global))
        back = transform_points(
            transform_points(xyz_sensor, sensor2global),
            np.linalg.inv(box2global))
        np.testing.assert_allclose(back, xyz, atol=1e-9)


def test_points_in_box_follow_the_box_yaw():
    box = [10.0, 5.0, 1.0, 4.0, 2.0, 1.5, np.pi / 2]  # length along y
    xyz = np.array([[10.0, 6.9, 1.0], [11.5, 5.0, 1.0], [10.0, 5.0, 1.76],
                    [10.99, 3.01, 0.26]])
    assert points_in_box(xyz, box).tolist() == [True, False, False, True]


def test_occluded_object_gets_more_points_in_its_box():
    frames, _ = make_frames()
    patched, _ = complete_scene(frames)
    for frame, points in zip(frames, patched):
        assert in_car(points, frame).sum() == sum(CAR_SEEN)
    # the occluded keyframe gains the most
    assert in_car(frames[1]['points'], frames[1]).sum() == 6
    assert in_car(patched[1], frames[1]).sum() == 66


def test_merged_count_is_the_sum_over_frames_and_window():
    frames, _ = make_frames()
    _, result = complete_scene(frames)
    for t in range(3):
        assert result['merged'][(t, CAR)] == (CAR_SEEN[t], sum(CAR_SEEN))
    patched, result = complete_scene(frames, window=1)
    assert result['merged'][(0, CAR)] == (40, 46)
    assert result['merged'][(1, CAR)] == (6, 66)
    assert result['merged'][(2, CAR)] == (20, 26)
    assert in_car(patched[0], frames[0]).sum() == 46
    patched, result = complete_scene(frames, window=0)
    for frame, points in zip(frames, patched):
        np.testing.assert_array_equal(points[:, :4], frame['points'][:, :4])


def test_added_points_sit_on_the_object_as_seen_elsewhere():
    """The points added to keyframe 1 are keyframes 0 and 2's car points,
    in keyframe 1's car frame where they were in theirs."""
    frames, car_points = make_frames()
    patched, _ = complete_scene(frames)
    added = patched[1][len(frames[1]['points']):, :3]
    car2sensor = box_to_sensor(frames[1]['instances'][0]['bbox_3d'])
    in_box = transform_points(added, np.linalg.inv(car2sensor))
    np.testing.assert_allclose(
        in_box, np.concatenate([car_points[0], car_points[2]]), atol=1e-4)


def test_points_outside_all_boxes_are_unchanged():
    frames, _ = make_frames()
    patched, _ = complete_scene(frames)
    for frame, points in zip(frames, patched):
        original = frame['points']
        # the frame's own points come first, bit-exact but the ring
        np.testing.assert_array_equal(points[:len(original), :4],
                                      original[:, :4])
        assert (points[:, 4] == 0).all()
        outside = ~np.any([
            points_in_box(points[:, :3], i['bbox_3d'])
            for i in frame['instances']
        ], 0)
        was_outside = ~np.any([
            points_in_box(original[:, :3], i['bbox_3d'])
            for i in frame['instances']
        ], 0)
        np.testing.assert_array_equal(points[outside, :4],
                                      original[was_outside, :4])


def test_instance_seen_once_is_unchanged():
    frames, _ = make_frames()
    patched, result = complete_scene(frames)
    assert result['merged'][(1, CONE)] == (5, 5)
    cone = frames[1]['instances'][1]['bbox_3d']
    np.testing.assert_array_equal(
        patched[1][points_in_box(patched[1][:, :3], cone)],
        np.concatenate([
            frames[1]['points'][points_in_box(frames[1]['points'][:, :3],
                                              cone), :4],
            np.zeros((5, 1), np.float32)
        ], 1))


def test_excluded_classes_are_left_as_they_are():
    frames, _ = make_frames()
    patched, result = complete_scene(frames, skip_labels=[0])
    assert all(token != CAR for _, token in result['merged'])
    for frame, points in zip(frames, patched):
        np.testing.assert_array_equal(points[:, :4], frame['points'][:, :4])


def test_count_disagreeing_with_num_lidar_pts_names_sample_and_instance():
    frames, _ = make_frames()
    frames[1]['instances'][0]['num_lidar_pts'] = 30  # 6 in its box
    with pytest.raises(ValueError,
                       match=r"sample 'sample-1' instance 0 \(instance_token "
                       r"'car-track'\): 6 points in its box, num_lidar_pts "
                       'says 30'):
        complete_scene(frames, where='scene-x')
    # |6 - 30| is beyond max(2, 0.5 * 30), within max(2, 0.9 * 30)
    with pytest.raises(ValueError, match="'sample-1'"):
        complete_scene(frames, count_tolerance=(2, 0.5))
    complete_scene(frames, count_tolerance=(2, 0.9))
    complete_scene(frames, count_tolerance=None)


def test_duplicate_instance_token_in_a_sample_raises():
    frames, _ = make_frames()
    frames[1]['instances'][1]['instance_token'] = CAR
    with pytest.raises(ValueError, match="'sample-1' instance 1 .*twice"):
        complete_scene(frames)


# --- info files and point files ---------------------------------------


def write_scene(root, frames, tokens=True):
    """The hand-made scene as a nuScenes-like root with a v2 info file."""
    import os
    os.makedirs(osp.join(root, 'samples', 'LIDAR_TOP'))
    data_list = []
    for k, frame in enumerate(frames):
        name = f'scene__LIDAR_TOP__{k}.pcd.bin'
        frame['points'].tofile(osp.join(root, 'samples', 'LIDAR_TOP', name))
        instances = [
            dict(i, bbox_3d=list(map(float, i['bbox_3d'])))
            for i in frame['instances']
        ]
        info = dict(
            sample_idx=k, token=frame['token'], timestamp=float(k),
            ego2global=(frame['sensor2global'] @ np.linalg.inv(LIDAR2EGO)
                        ).tolist(),
            lidar_points=dict(num_pts_feats=5, lidar_path=name,
                              lidar2ego=LIDAR2EGO.tolist()),
            instances=instances, scene_token='scene-a', frame_idx=k)
        if not tokens:
            del info['scene_token']
            for instance in info['instances']:
                del instance['instance_token']
        data_list.append(info)
    info_file = osp.join(root, 'infos_train.pkl')
    mmengine.dump(
        dict(metainfo=dict(categories=CATEGORIES), data_list=data_list),
        info_file)
    return info_file


def md5(path):
    with open(path, 'rb') as f:
        return hashlib.md5(f.read()).hexdigest()


def test_make_object_complete_writes_frames_and_infos(tmp_path):
    frames, _ = make_frames()
    root = str(tmp_path)
    info_file = write_scene(root, frames)
    before = md5(info_file)
    stats = make_object_complete(info_file, root)
    assert md5(info_file) == before  # the input is not changed
    assert stats['teacher_file'] == osp.join(root,
                                             'infos_train_xray-teacher.pkl')
    assert stats['frames'] == 3 and stats['instances'] == 4
    assert stats['points_added'] == 2 * sum(CAR_SEEN)
    teacher = mmengine.load(stats['teacher_file'])
    student = mmengine.load(stats['student_file'])
    patched, _ = complete_scene(frames)
    written = 0
    for k, (t_info, s_info) in enumerate(
            zip(teacher['data_list'], student['data_list'])):
        path = f'../LIDAR_TOP_PATCHED/scene__LIDAR_TOP__{k}.pcd.bin'
        assert t_info['lidar_points']['lidar_path'] == path
        assert s_info['lidar_points'][TEACHER_PATH_KEY] == path
        assert s_info['lidar_points']['lidar_path'] == (
            f'scene__LIDAR_TOP__{k}.pcd.bin')
        file = osp.join(root, 'samples', 'LIDAR_TOP', path)
        np.testing.assert_array_equal(
            np.fromfile(file, np.float32).reshape(-1, 5), patched[k])
        written += osp.getsize(file)
    written += osp.getsize(stats['teacher_file'])
    written += osp.getsize(stats['student_file'])
    assert stats['bytes'] == written
    assert teacher['metainfo']['object_complete']['role'] == 'teacher'
    assert student['metainfo']['object_complete']['role'] == 'student'
    assert check_infos(stats['teacher_file'], root) == 'teacher'
    assert check_infos(stats['student_file'], root) == 'student'
    # deterministic: a second run writes the same bytes
    sums = [md5(stats['teacher_file']), md5(stats['student_file'])]
    make_object_complete(info_file, root)
    assert [md5(stats['teacher_file']), md5(stats['student_file'])] == sums


def test_options_reach_the_frames(tmp_path):
    frames, _ = make_frames()
    info_file = write_scene(str(tmp_path), frames)
    stats = make_object_complete(info_file, str(tmp_path), window=0,
                                 exclude_classes=['traffic_cone'])
    assert stats['points_added'] == 0 and stats['instances'] == 3
    settings = mmengine.load(
        stats['teacher_file'])['metainfo']['object_complete']
    assert settings['window'] == 0
    assert settings['exclude_classes'] == ['traffic_cone']
    with pytest.raises(ValueError, match=r"cannot exclude \['tree'\]"):
        make_object_complete(info_file, str(tmp_path),
                             exclude_classes=['tree'])


def test_patched_frames_load_with_mmdet3d(tmp_path):
    from mmdet3d.datasets.transforms import LoadPointsFromFile
    frames, _ = make_frames()
    root = str(tmp_path)
    stats = make_object_complete(write_scene(root, frames), root)
    patched, _ = complete_scene(frames)
    loader = LoadPointsFromFile(coord_type='LIDAR', load_dim=5, use_dim=5)
    teacher = mmengine.load(stats['teacher_file'])
    for info, points in zip(teacher['data_list'], patched):
        path = osp.join(root, 'samples', 'LIDAR_TOP',
                        info['lidar_points']['lidar_path'])
        loaded = loader(dict(lidar_points=dict(lidar_path=path)))['points']
        np.testing.assert_array_equal(loaded.tensor.numpy(), points)


def test_infos_without_track_ids_point_at_the_converter(tmp_path):
    frames, _ = make_frames()
    info_file = write_scene(str(tmp_path), frames, tokens=False)
    with pytest.raises(ValueError,
                       match=r"sample 'sample-0' has no `scene_token`.*"
                       r'sim_scenes\.py DATAROOT .*--add-to'):
        make_object_complete(info_file, str(tmp_path))
    infos = mmengine.load(info_file)
    for info in infos['data_list']:
        info['scene_token'] = 'scene-a'
    mmengine.dump(infos, info_file)
    with pytest.raises(ValueError,
                       match=r"sample 'sample-0' instance 0 has no "
                       '`instance_token`.*sim_scenes.py'):
        make_object_complete(info_file, str(tmp_path))


def test_refuses_object_complete_infos_and_bad_point_files(tmp_path):
    frames, _ = make_frames()
    root = str(tmp_path)
    info_file = write_scene(root, frames)
    stats = make_object_complete(info_file, root)
    with pytest.raises(ValueError, match='Object-Complete info file already'):
        make_object_complete(stats['teacher_file'], root)
    with pytest.raises(ValueError, match='overwrite the input'):
        make_object_complete(info_file, root, student_file=info_file)
    bad = osp.join(root, 'samples', 'LIDAR_TOP', 'scene__LIDAR_TOP__2.pcd.bin')
    np.zeros(7, np.float32).tofile(bad)
    with pytest.raises(ValueError,
                       match=r'scene__LIDAR_TOP__2\.pcd\.bin.*7 float32'):
        make_object_complete(info_file, root)


def test_check_infos_names_a_missing_patched_file(tmp_path):
    import os
    frames, _ = make_frames()
    root = str(tmp_path)
    info_file = write_scene(root, frames)
    stats = make_object_complete(info_file, root)
    missing = osp.join(root, 'samples', 'LIDAR_TOP_PATCHED',
                       'scene__LIDAR_TOP__1.pcd.bin')
    os.remove(missing)
    for role in ('teacher', 'student'):
        with pytest.raises(FileNotFoundError,
                           match=rf"\({role} infos\): the Object-Complete "
                           rf"frame '{missing}' of sample 'sample-1' is "
                           'missing'):
            check_infos(stats[f'{role}_file'], root)
    with pytest.raises(ValueError, match='no metainfo.object_complete'):
        check_infos(info_file, root)
    # a teacher whose infos point back at the normal frames
    teacher = mmengine.load(stats['teacher_file'])
    teacher['data_list'][0]['lidar_points']['lidar_path'] = (
        'scene__LIDAR_TOP__0.pcd.bin')
    mmengine.dump(teacher, stats['teacher_file'])
    with pytest.raises(ValueError, match="sample 'sample-0'.*outside the "
                       'patched folder'):
        check_infos(stats['teacher_file'], root)
