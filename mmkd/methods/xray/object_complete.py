# Copyright (c) mmkd contributors. All rights reserved.
"""Object-Complete LiDAR frames, the X-Ray teacher's input (Gambashidze et
al., "Weak-to-Strong 3D Object Detection with X-Ray Distillation", CVPR
2024).

Each tracked object's points are gathered from all keyframes of its scene
(or a window of them) in its box frame and placed into every keyframe
that holds the object, so that the teacher sees the object as if LiDAR
went through occluders and the object's own near side:

1. annotations are grouped by track (``instance_token``) over the
   keyframes of a scene (``scene_token``), in time order;
2. in every keyframe, the instance's in-box points are moved sensor ->
   ego -> global -> box frame (their count checked against
   ``num_lidar_pts``);
3. the instance's clouds are merged by concatenation (no registration,
   de-duplication or down-sampling; objects are treated as rigid);
4. each keyframe gets the points of the other frames placed by box ->
   global -> ego -> sensor. Its own points, in the box or not, stay as they
   are: this is the paper's "remove the in-box points, add the merged
   cloud" with the keyframe's share of the merged cloud kept bit-exact
   (it maps onto itself) and a point in two boxes kept once.

Sweeps are not patched. Column 4 (nuScenes' ring index, meaningless for
points from other frames) is set to 0 in the patched files; mmdet3d's
``LoadPointsFromMultiSweeps`` overwrites it with the time lag anyway.
"""
import copy
import os
import os.path as osp
import time
from typing import Dict, List, Optional, Sequence, Tuple

import mmengine
import numpy as np

from mmkd.datasets.lidar_frames import (box_to_sensor, inside_box,
                                        sensor_to_global, transform_points)
from mmkd.datasets.sim_scenes.infos import _load_v2 as load_v2_infos
from .transforms import TEACHER_PATH_KEY

LIDAR_FOLDER = 'samples/LIDAR_TOP'
PATCHED_FOLDER = 'samples/LIDAR_TOP_PATCHED'
#: |found - num_lidar_pts| <= max(atol, rtol * num_lidar_pts) passes
COUNT_ATOL = 2
COUNT_RTOL = 0.1
TRACK_HINT = (
    "X-Ray's Object-Complete frames group the boxes of a scene by track. "
    'SimScenes infos made by tools/dataset_converters/sim_scenes.py carry '
    '`scene_token` per sample and `instance_token` per instance; add them '
    'to infos of the real nuScenes (made by mmdet3d\'s create_data.py) '
    'with the nuScenes devkit: `python tools/dataset_converters/'
    'sim_scenes.py DATAROOT --version v1.0-trainval --add-to INFO_FILE`. '
    "mmdet3d's Waymo, KITTI and ONCE infos have no track ids (not "
    'supported)')


def _mismatch(found: int, expected: int, atol: float, rtol: float) -> bool:
    return abs(found - expected) > max(atol, rtol * expected)


def complete_scene(frames: Sequence[dict],
                   window: Optional[int] = None,
                   skip_labels: Sequence[int] = (),
                   count_tolerance: Optional[Tuple[float, float]] = (
                       COUNT_ATOL, COUNT_RTOL),
                   zero_columns: Sequence[int] = (4,),
                   where: str = 'a scene') -> Tuple[List[np.ndarray], dict]:
    """Object-Complete versions of the keyframes of one scene.

    Args:
        frames (Sequence[dict]): The keyframes in time order, each with
            ``token``, ``points`` ((N, C) float32 in the sensor frame, xyz
            first), ``sensor2global`` (4 x 4) and ``instances`` (dicts with
            ``instance_token``, ``bbox_3d`` in the sensor frame and
            optionally ``bbox_label`` and ``num_lidar_pts``).
        window (int, optional): Gather an instance's points from the
            keyframes at most this many keyframes away; None: all.
        skip_labels (Sequence[int]): Instances of these labels are not
            completed (their points stay as they are).
        count_tolerance (tuple, optional): ``(atol, rtol)``: an instance
            whose in-box points differ from its ``num_lidar_pts`` by more
            than ``max(atol, rtol * num_lidar_pts)`` is an error; None
            skips the check.
        zero_columns (Sequence[int]): Point columns set to 0 in the output
            (those that exist).
        where (str): Names the scene in errors (e.g. the info file).

    Returns:
        tuple: The patched points of each frame ((N', C) float32: the
        frame's points, then the added ones) and a dict ``merged``:
        ``(frame index, instance_token)`` to ``(own, total)``, the
        instance's in-box points of that frame and of its merged cloud.

    Raises:
        ValueError: A count beyond the tolerance or a token twice in a
            frame, naming the sample and the instance.
    """
    skip_labels = set(skip_labels)
    clouds: Dict[str, Dict[int, np.ndarray]] = {}  # token -> frame -> pts
    placements = []  # per frame: (token, box -> global)
    for f, frame in enumerate(frames):
        points = frame['points']
        xyz = points[:, :3].astype(np.float64)
        sensor2global = np.asarray(frame['sensor2global'], np.float64)
        placements.append([])
        seen = set()
        for i, instance in enumerate(frame['instances']):
            token = instance['instance_token']
            name = (f'{where}: sample {frame["token"]!r} instance {i} '
                    f'(instance_token {token!r})')
            if token in seen:
                raise ValueError(f'{name} occurs twice in the sample')
            seen.add(token)
            if instance.get('bbox_label', -1) in skip_labels:
                continue
            box = np.asarray(instance['bbox_3d'], np.float64)[:7]
            box2global = sensor2global @ box_to_sensor(box)
            # candidates by the box's radius in the sensor frame (cheap)
            radius2 = (box[3]**2 + box[4]**2) / 4
            near = np.flatnonzero(
                ((xyz[:, :2] - box[:2])**2).sum(1) <= radius2 + 1e-9)
            sensor2box = np.linalg.inv(box2global) @ sensor2global
            xyz_box = transform_points(xyz[near], sensor2box)
            inside = inside_box(xyz_box, box)
            found = int(inside.sum())
            if count_tolerance is not None:
                if 'num_lidar_pts' not in instance:
                    raise KeyError(
                        f'{name} has no num_lidar_pts to check the '
                        f'{found} points found in its box against; turn '
                        'the count check off to complete it anyway')
                expected = int(instance['num_lidar_pts'])
                if _mismatch(found, expected, *count_tolerance):
                    raise ValueError(
                        f'{name}: {found} points in its box, num_lidar_pts '
                        f'says {expected} (tolerance: max({count_tolerance[0]}'
                        f', {count_tolerance[1]} * num_lidar_pts)); are the '
                        'boxes, poses and point files of the same frame? '
                        'Widen the tolerance or turn the check off if the '
                        'counts are known to differ')
            cloud = points[near[inside]].astype(np.float64)
            cloud[:, :3] = xyz_box[inside]
            clouds.setdefault(token, {})[f] = cloud
            placements[-1].append((token, box2global))
    patched, merged = [], {}
    for t, frame in enumerate(frames):
        global2sensor = np.linalg.inv(
            np.asarray(frame['sensor2global'], np.float64))
        parts = [frame['points'].astype(np.float32)]
        for token, box2global in placements[t]:
            others = [
                cloud for s, cloud in sorted(clouds[token].items())
                if s != t and (window is None or abs(s - t) <= window)
            ]
            own = len(clouds[token][t])
            merged[(t, token)] = (own, own + sum(len(c) for c in others))
            if not others:
                continue
            cloud = np.concatenate(others)
            cloud[:, :3] = transform_points(cloud[:, :3],
                                            global2sensor @ box2global)
            parts.append(cloud.astype(np.float32))
        points = np.concatenate(parts)
        for column in zero_columns:
            if column < points.shape[1]:
                points[:, column] = 0
        patched.append(points)
    return patched, dict(merged=merged)


def check_track_fields(infos: dict, info_file: str) -> None:
    """Refuse infos without ``scene_token`` per sample or ``instance_token``
    per instance, naming the file and the sample, pointing at the tool
    that adds them."""
    for info in infos['data_list']:
        sample = info.get('token', info.get('sample_idx'))
        if not info.get('scene_token'):
            raise ValueError(f'{info_file!r}: sample {sample!r} has no '
                             f'`scene_token`. {TRACK_HINT}')
        for i, instance in enumerate(info.get('instances', [])):
            if not instance.get('instance_token'):
                raise ValueError(
                    f'{info_file!r}: sample {sample!r} instance {i} has no '
                    f'`instance_token`. {TRACK_HINT}')


def load_points(path: str, num_feats: int) -> np.ndarray:
    """A ``.bin`` point file as (N, num_feats) float32.

    Raises:
        FileNotFoundError, ValueError: Naming the file.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'point file {path!r} not found')
    points = np.fromfile(path, np.float32)
    if points.size % num_feats:
        raise ValueError(
            f'{path!r}: {points.size} float32 values, not a multiple of '
            f'the {num_feats} features per point (num_pts_feats) of its '
            'info')
    return points.reshape(-1, num_feats)


def _scenes(data_list: List[dict]) -> List[List[int]]:
    """Indices of the samples of each scene, in time order; scenes in
    order of first appearance (deterministic)."""
    scenes: Dict[str, List[int]] = {}
    for index, info in enumerate(data_list):
        scenes.setdefault(info['scene_token'], []).append(index)
    return [
        sorted(indices,
               key=lambda i: (data_list[i].get('timestamp', 0),
                              data_list[i].get('frame_idx', 0)))
        for indices in scenes.values()
    ]


def _labels(metainfo: dict, classes: Sequence[str], info_file: str) -> list:
    categories = metainfo.get('categories', {})
    unknown = [c for c in classes if c not in categories]
    if unknown:
        raise ValueError(f'{info_file!r}: cannot exclude {unknown}: not '
                         f'among its categories {sorted(categories)}')
    return [categories[c] for c in classes]


def output_files(info_file: str) -> Tuple[str, str]:
    """The teacher's and the student's info files written for
    ``info_file``: ``<stem>_xray-teacher.pkl``, ``<stem>_xray-student.pkl``
    """
    stem = osp.splitext(info_file)[0]
    return stem + '_xray-teacher.pkl', stem + '_xray-student.pkl'


def make_object_complete(info_file: str,
                         root: str,
                         window: Optional[int] = None,
                         exclude_classes: Sequence[str] = (),
                         count_tolerance: Optional[Tuple[float, float]] = (
                             COUNT_ATOL, COUNT_RTOL),
                         lidar_folder: str = LIDAR_FOLDER,
                         patched_folder: str = PATCHED_FOLDER,
                         teacher_file: Optional[str] = None,
                         student_file: Optional[str] = None) -> dict:
    """Write the Object-Complete keyframes of an info file's samples and
    the teacher's and student's info files.

    Args:
        info_file (str): An mmdet3d v2 info file with the track fields
            (``scene_token``, ``instance_token``).
        root (str): The dataroot; keyframes are read from
            ``root/lidar_folder`` and written to ``root/patched_folder``
            under the same names.
        window (int, optional): See :func:`complete_scene`.
        exclude_classes (Sequence[str]): Class names (the infos'
            ``metainfo.categories``) not completed.
        count_tolerance (tuple, optional): See :func:`complete_scene`.
        lidar_folder (str): The keyframes' folder (the datasets'
            ``data_prefix.pts``).
        patched_folder (str): Where the patched keyframes go.
        teacher_file (str, optional): Defaults to
            ``<stem>_xray-teacher.pkl`` next to ``info_file``.
        student_file (str, optional): Defaults to
            ``<stem>_xray-student.pkl``.

    Returns:
        dict: ``teacher_file``, ``student_file``, ``frames``,
        ``instances`` (completed per frame), ``points_added``, ``bytes``
        (written), ``seconds``.
    """
    start = time.time()
    infos = load_v2_infos(info_file)
    metainfo = infos.get('metainfo', {})
    if 'object_complete' in metainfo:
        raise ValueError(
            f'{info_file!r} is an Object-Complete info file already '
            f'({metainfo["object_complete"]}); give the original infos')
    check_track_fields(infos, info_file)
    skip_labels = _labels(metainfo, exclude_classes, info_file)
    default_teacher, default_student = output_files(info_file)
    teacher_file = teacher_file or default_teacher
    student_file = student_file or default_student
    for out in (teacher_file, student_file):
        if osp.abspath(out) == osp.abspath(info_file):
            raise ValueError(f'{out!r} would overwrite the input infos')
    data_list = infos['data_list']
    names = [osp.basename(i['lidar_points']['lidar_path']) for i in data_list]
    if len(set(names)) < len(names):
        raise ValueError(f'{info_file!r}: two samples name the same LiDAR '
                         'file; patched files would overwrite each other')
    os.makedirs(osp.join(root, patched_folder), exist_ok=True)
    # the teacher's path, relative to the folder of the student's
    # (data_prefix.pts), so that both infos use the same dataset prefixes
    # and the sweeps (earlier keyframes included) stay the unpatched ones
    relative = [
        osp.relpath(osp.join(patched_folder, n), lidar_folder) for n in names
    ]
    stats = dict(frames=0, instances=0, points_added=0, bytes=0)
    for scene in _scenes(data_list):
        frames = []
        for index in scene:
            info = data_list[index]
            frames.append(
                dict(
                    token=info.get('token', info.get('sample_idx')),
                    points=load_points(
                        osp.join(root, lidar_folder,
                                 info['lidar_points']['lidar_path']),
                        int(info['lidar_points'].get('num_pts_feats', 5))),
                    sensor2global=sensor_to_global(info),
                    instances=info.get('instances', [])))
        patched, result = complete_scene(
            frames, window=window, skip_labels=skip_labels,
            count_tolerance=count_tolerance, where=repr(info_file))
        for index, frame, points in zip(scene, frames, patched):
            path = osp.join(root, patched_folder, names[index])
            points.tofile(path)
            stats['bytes'] += points.nbytes
            stats['points_added'] += len(points) - len(frame['points'])
        stats['frames'] += len(scene)
        stats['instances'] += len(result['merged'])
    settings = dict(
        source=osp.basename(info_file),
        lidar_folder=lidar_folder,
        patched_folder=patched_folder,
        window=window,
        exclude_classes=list(exclude_classes),
        count_tolerance=None
        if count_tolerance is None else list(count_tolerance))
    teacher, student = copy.deepcopy(infos), infos
    for info, path in zip(teacher['data_list'], relative):
        info['lidar_points']['lidar_path'] = path
    for info, path in zip(student['data_list'], relative):
        info['lidar_points'][TEACHER_PATH_KEY] = path
    teacher['metainfo']['object_complete'] = dict(settings, role='teacher')
    student['metainfo']['object_complete'] = dict(settings, role='student')
    for out, content in ((teacher_file, teacher), (student_file, student)):
        mmengine.dump(content, out)
        stats['bytes'] += osp.getsize(out)
    stats.update(
        teacher_file=teacher_file,
        student_file=student_file,
        seconds=time.time() - start)
    return stats
