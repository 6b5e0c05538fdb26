# Copyright (c) mmkd contributors. All rights reserved.
"""Write SimScenes as a nuScenes v1.0 dataset: json tables, ``samples/``
and ``sweeps/``, readable by ``nuscenes.NuScenes`` and the upstream tools.

Scenes take official nuScenes scene names of the chosen version's splits
(``v1.0-mini``: ``mini_train`` / ``mini_val``), so that the devkit's split
lists and mmdet3d's converter place them in train and val unchanged.
"""
import hashlib
import json
import os
import os.path as osp
from typing import Optional, Sequence

import numpy as np
from PIL import Image
from pyquaternion import Quaternion

from .camera import CAMERAS, camera_calibration, render
from .lidar import LIDAR2EGO, scan
from .raycast import cast_rays, points_in_boxes
from .world import CLASSES, make_scene

KEYFRAME_INTERVAL = 0.5  # 2 Hz keyframes, as nuScenes
TABLES = ('category', 'attribute', 'visibility', 'instance', 'sensor',
          'calibrated_sensor', 'ego_pose', 'log', 'scene', 'sample',
          'sample_data', 'sample_annotation', 'map')
ATTRIBUTES = ('vehicle.moving', 'vehicle.stopped', 'vehicle.parked',
              'cycle.with_rider', 'cycle.without_rider',
              'pedestrian.sitting_lying_down', 'pedestrian.standing',
              'pedestrian.moving')
VISIBILITY = (('1', 'v0-40'), ('2', 'v40-60'), ('3', 'v60-80'),
              ('4', 'v80-100'))
#: generation sizes; the default is described in the issue, ``tiny`` is
#: for unit tests (seconds)
SIZES = dict(
    default=dict(
        num_train=4,
        num_val=2,
        num_keyframes=20,
        sweeps_per_keyframe=9,
        num_azimuth=360,
        image_scale=0.25),
    tiny=dict(
        num_train=1,
        num_val=1,
        num_keyframes=3,
        sweeps_per_keyframe=2,
        num_azimuth=180,
        image_scale=0.1))
BASE_TIMESTAMP = 1_600_000_000_000_000  # microseconds


def _scene_names(version: str, num_train: int, num_val: int) -> list:
    from nuscenes.utils.splits import create_splits_scenes
    splits = create_splits_scenes()
    train, val = (('mini_train', 'mini_val') if version == 'v1.0-mini' else
                  ('train', 'val'))
    if num_train > len(splits[train]) or num_val > len(splits[val]):
        raise ValueError(
            f'{version} has {len(splits[train])} train / {len(splits[val])} '
            f'val scene names, asked for {num_train} / {num_val}; use '
            "version='v1.0-trainval' for more")
    return ([(n, 'train') for n in splits[train][:num_train]] +
            [(n, 'val') for n in splits[val][:num_val]])


class _Writer:
    """Collects table records; tokens are deterministic in the seed."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.tables = {name: [] for name in TABLES}

    def token(self, *parts) -> str:
        key = '/'.join(str(p) for p in (self.seed, *parts))
        return hashlib.md5(key.encode()).hexdigest()

    def add(self, table: str, **record) -> str:
        self.tables[table].append(record)
        return record['token']


def _pose_record(matrix: np.ndarray) -> dict:
    return dict(
        translation=matrix[:3, 3].tolist(),
        rotation=list(Quaternion(matrix=matrix[:3, :3], atol=1e-6).elements))


def _attribute(name: str, speed: float) -> str:
    if name in ('car', 'truck'):
        if speed > 0.5:
            return 'vehicle.moving'
        return 'vehicle.parked' if speed == 0 else 'vehicle.stopped'
    if name == 'pedestrian':
        return 'pedestrian.moving' if speed > 0.3 else 'pedestrian.standing'
    if name == 'bicycle':
        return 'cycle.with_rider'
    return ''


def _visibility(box: np.ndarray, track: int, views: list) -> str:
    """nuScenes visibility level: the fraction of the box's silhouette
    that is not occluded, over all cameras."""
    seen = whole = 0
    corners = _corners(box)
    for cam2global, cam2img, tracks in views:
        global2cam = np.linalg.inv(cam2global)
        cam = corners @ global2cam[:3, :3].T + global2cam[:3, 3]
        if (cam[:, 2] <= 0.1).any():
            continue  # behind or across the image plane
        uv = cam @ cam2img.T
        uv = uv[:, :2] / uv[:, 2:]
        height, width = tracks.shape
        u0, v0 = np.floor(uv.min(0)).astype(int)
        u1, v1 = np.ceil(uv.max(0)).astype(int)
        u0, v0, u1, v1 = max(u0, 0), max(v0, 0), min(u1, width), min(
            v1, height)
        if u0 >= u1 or v0 >= v1:
            continue
        u, v = np.meshgrid(np.arange(u0, u1) + 0.5, np.arange(v0, v1) + 0.5)
        pix = np.stack([u.ravel(), v.ravel(), np.ones(u.size)], 1)
        dirs = pix @ np.linalg.inv(cam2img).T @ cam2global[:3, :3].T
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        _, hit, _ = cast_rays(cam2global[:3, 3], dirs, box[None], 200.0)
        silhouette = hit == 0
        whole += silhouette.sum()
        seen += (silhouette
                 & (tracks[v0:v1, u0:u1].ravel() == track)).sum()
    fraction = seen / whole if whole else 0.0
    level = int(np.searchsorted([0.4, 0.6, 0.8], fraction, side='left'))
    return VISIBILITY[level][0]


def _corners(box: np.ndarray) -> np.ndarray:
    x, y, z, length, width, height, yaw = box
    dx = np.array([1, 1, -1, -1] * 2) * length / 2
    dy = np.array([1, -1, -1, 1] * 2) * width / 2
    dz = np.array([0] * 4 + [1] * 4) * height
    c, s = np.cos(yaw), np.sin(yaw)
    return np.stack([x + c * dx - s * dy, y + s * dx + c * dy, z + dz], 1)


def make_sim_scenes(root: str,
                    version: str = 'v1.0-mini',
                    num_train: int = 4,
                    num_val: int = 2,
                    num_keyframes: int = 20,
                    sweeps_per_keyframe: int = 9,
                    num_azimuth: int = 360,
                    image_scale: float = 0.25,
                    cameras: Optional[Sequence[str]] = None,
                    annotation_range: float = 60.0,
                    seed: int = 0) -> str:
    """Generate SimScenes into ``root`` (nuScenes layout).

    Args:
        root (str): The dataroot: ``<version>/*.json``, ``samples/``,
            ``sweeps/``, ``maps/`` are written there.
        version (str): ``'v1.0-mini'`` (at most 8 train / 2 val scenes) or
            ``'v1.0-trainval'``.
        num_train (int): Train scenes. Defaults to 4.
        num_val (int): Val scenes. Defaults to 2.
        num_keyframes (int): Keyframes (samples) per scene at 2 Hz.
            Defaults to 20.
        sweeps_per_keyframe (int): LiDAR sweeps between two keyframes;
            9 gives nuScenes' 20 Hz. Defaults to 9.
        num_azimuth (int): LiDAR firings per beam and revolution (360: one
            degree; nuScenes has about 1090). Defaults to 360.
        image_scale (float): Image size relative to nuScenes' 1600 x 900
            (intrinsics scale with it). Defaults to 0.25.
        cameras (Sequence[str], optional): Camera channels; all six by
            default.
        annotation_range (float): Objects within this distance (m) of the
            ego are annotated. Defaults to 60.
        seed (int): Defaults to 0.

    Returns:
        str: ``root``.
    """
    cameras = list(CAMERAS if cameras is None else cameras)
    unknown = [c for c in cameras if c not in CAMERAS]
    if unknown:
        raise ValueError(f'unknown cameras {unknown}; choose from '
                         f'{list(CAMERAS)}')
    writer = _Writer(seed)
    for name, spec in CLASSES.items():
        writer.add('category', token=writer.token('category', name),
                   name=spec['category'], description=f'SimScenes {name}')
    for name in ATTRIBUTES:
        writer.add('attribute', token=writer.token('attribute', name),
                   name=name, description=name)
    for token, level in VISIBILITY:
        writer.add('visibility', token=token, level=level,
                   description=f'visibility of the annotation: {level}')
    for channel in ['LIDAR_TOP', *cameras]:
        writer.add('sensor', token=writer.token('sensor', channel),
                   channel=channel,
                   modality='lidar' if channel == 'LIDAR_TOP' else 'camera')
    map_token = writer.token('map')
    for folder in ['samples/LIDAR_TOP', 'sweeps/LIDAR_TOP', 'maps'] + [
            f'samples/{c}' for c in cameras]:
        os.makedirs(osp.join(root, folder), exist_ok=True)
    Image.fromarray(np.full((64, 64), 255, np.uint8)).save(
        osp.join(root, 'maps', 'simscenes.png'))
    category_token = {
        name: writer.token('category', name) for name in CLASSES
    }
    log_tokens = []
    for index, (scene_name, _) in enumerate(
            _scene_names(version, num_train, num_val)):
        log_tokens.append(
            _write_scene(writer, root, index, scene_name, num_keyframes,
                         sweeps_per_keyframe, num_azimuth, image_scale,
                         cameras, annotation_range, category_token))
    writer.add('map', token=map_token, log_tokens=log_tokens,
               category='semantic_prior', filename='maps/simscenes.png')
    table_dir = osp.join(root, version)
    os.makedirs(table_dir, exist_ok=True)
    for name, records in writer.tables.items():
        with open(osp.join(table_dir, f'{name}.json'), 'w') as f:
            json.dump(records, f)
    return root


def _write_scene(writer, root, index, scene_name, num_keyframes,
                 sweeps_per_keyframe, num_azimuth, image_scale, cameras,
                 annotation_range, category_token) -> str:
    rng = np.random.default_rng([writer.seed, index])
    scene = make_scene(rng, scene_name,
                       (num_keyframes - 1) * KEYFRAME_INTERVAL)
    logfile = f'simscenes-{scene_name}'
    log_token = writer.add(
        'log', token=writer.token('log', scene_name), logfile=logfile,
        vehicle='simscenes', date_captured='2026-11-25',
        location='simscenes')
    calib = {}
    calib['LIDAR_TOP'] = writer.add(
        'calibrated_sensor',
        token=writer.token('calib', scene_name, 'LIDAR_TOP'),
        sensor_token=writer.token('sensor', 'LIDAR_TOP'),
        camera_intrinsic=[],
        **_pose_record(LIDAR2EGO))
    for cam in cameras:
        cam2ego, cam2img = camera_calibration(cam, image_scale)
        calib[cam] = writer.add(
            'calibrated_sensor',
            token=writer.token('calib', scene_name, cam),
            sensor_token=writer.token('sensor', cam),
            camera_intrinsic=cam2img.tolist(),
            **_pose_record(cam2ego))
    start = BASE_TIMESTAMP + index * 100_000_000
    samples = [writer.token('sample', scene_name, k)
               for k in range(num_keyframes)]
    for k, token in enumerate(samples):
        writer.add(
            'sample', token=token,
            timestamp=start + int(k * KEYFRAME_INTERVAL * 1e6),
            prev=samples[k - 1] if k else '',
            next=samples[k + 1] if k + 1 < num_keyframes else '',
            scene_token=writer.token('scene', scene_name))
    writer.add(
        'scene', token=writer.token('scene', scene_name),
        log_token=log_token, nbr_samples=num_keyframes,
        first_sample_token=samples[0], last_sample_token=samples[-1],
        name=scene_name,
        description='SimScenes: a straight road, traffic, pedestrians')
    # LiDAR: keyframes and the sweeps between them, one chain in time
    lidar_times = []
    for k in range(num_keyframes):
        lidar_times.append((k * KEYFRAME_INTERVAL, k, True))
        if k + 1 < num_keyframes:
            for j in range(1, sweeps_per_keyframe + 1):
                t = (k + j / (sweeps_per_keyframe + 1)) * KEYFRAME_INTERVAL
                lidar_times.append((t, k + 1, False))
    lidar_tokens = [writer.token('sd', scene_name, 'LIDAR_TOP', i)
                    for i in range(len(lidar_times))]
    annotations = {}  # track -> list of (keyframe, record)
    for i, (t, k, key) in enumerate(lidar_times):
        timestamp = start + int(round(t * 1e6))
        points, _ = scan(scene, t, rng, num_azimuth=num_azimuth)
        folder = 'samples' if key else 'sweeps'
        filename = (f'{folder}/LIDAR_TOP/{logfile}__LIDAR_TOP__'
                    f'{timestamp}.pcd.bin')
        points.tofile(osp.join(root, filename))
        ego_token = writer.add('ego_pose',
                               token=writer.token('ego', lidar_tokens[i]),
                               timestamp=timestamp,
                               **_pose_record(scene.ego_pose(t)))
        writer.add(
            'sample_data', token=lidar_tokens[i], sample_token=samples[k],
            ego_pose_token=ego_token,
            calibrated_sensor_token=calib['LIDAR_TOP'], timestamp=timestamp,
            fileformat='pcd', is_key_frame=key, height=0, width=0,
            filename=filename, prev=lidar_tokens[i - 1] if i else '',
            next=lidar_tokens[i + 1] if i + 1 < len(lidar_times) else '')
        if key:
            neighbours = (samples[k - 1] if k else '',
                          samples[k + 1] if k + 1 < num_keyframes else '')
            _annotate(writer, scene, t, k, samples[k], neighbours, points,
                      root, logfile, timestamp, cameras, image_scale, calib,
                      rng, annotation_range, annotations)
    _write_instances(writer, scene, scene_name, annotations, category_token)
    return log_token


def _annotate(writer, scene, t, k, sample_token, neighbours, points, root,
              logfile, timestamp, cameras, image_scale, calib, rng,
              annotation_range, annotations) -> None:
    """Camera images of keyframe ``k`` and its annotations."""
    ego_pose = scene.ego_pose(t)
    views = []
    for cam in cameras:
        img, tracks = render(scene, t, cam, image_scale, rng,
                             return_tracks=True)
        filename = f'samples/{cam}/{logfile}__{cam}__{timestamp}.jpg'
        Image.fromarray(img).save(osp.join(root, filename), quality=92)
        token = writer.token('sd', sample_token, cam)
        ego_token = writer.add('ego_pose', token=writer.token('ego', token),
                               timestamp=timestamp,
                               **_pose_record(ego_pose))
        writer.add(
            'sample_data', token=token, sample_token=sample_token,
            ego_pose_token=ego_token, calibrated_sensor_token=calib[cam],
            timestamp=timestamp, fileformat='jpg', is_key_frame=True,
            height=img.shape[0], width=img.shape[1], filename=filename,
            prev=writer.token('sd', neighbours[0], cam)
            if neighbours[0] else '',
            next=writer.token('sd', neighbours[1], cam)
            if neighbours[1] else '')
        cam2ego, cam2img = camera_calibration(cam, image_scale)
        views.append((ego_pose @ cam2ego, cam2img, tracks))
    sensor2global = ego_pose @ LIDAR2EGO
    xyz = points[:, :3] @ sensor2global[:3, :3].T + sensor2global[:3, 3]
    boxes, velocities, track_ids = scene.boxes(t)
    near = np.linalg.norm(boxes[:, :2] - ego_pose[:2, 3],
                          axis=1) <= annotation_range
    inside = points_in_boxes(xyz, boxes[near])
    for column, b in enumerate(np.flatnonzero(near)):
        track = int(track_ids[b])
        name = scene.tracks[track].name
        x, y, z, length, width, height, yaw = boxes[b]
        attribute = _attribute(name, float(np.linalg.norm(velocities[b])))
        record = dict(
            token=writer.token('ann', sample_token, track),
            sample_token=sample_token,
            instance_token=writer.token('instance', scene.name, track),
            visibility_token=_visibility(boxes[b], track, views),
            attribute_tokens=[writer.token('attribute', attribute)]
            if attribute else [],
            translation=[float(x), float(y), float(z + height / 2)],
            size=[float(width), float(length), float(height)],
            rotation=list(Quaternion(axis=[0, 0, 1], angle=float(yaw))),
            prev='', next='',
            num_lidar_pts=int(inside[:, column].sum()),
            num_radar_pts=0)
        annotations.setdefault(track, []).append((k, record))


def _write_instances(writer, scene, scene_name, annotations,
                     category_token) -> None:
    """Instance records and the prev/next chains of their annotations."""
    for track, records in sorted(annotations.items()):
        records = [r for _, r in sorted(records, key=lambda kr: kr[0])]
        for i, record in enumerate(records):
            record['prev'] = records[i - 1]['token'] if i else ''
            record['next'] = records[i + 1]['token'] if i + 1 < len(
                records) else ''
            writer.tables['sample_annotation'].append(record)
        writer.add(
            'instance', token=writer.token('instance', scene_name, track),
            category_token=category_token[scene.tracks[track].name],
            nbr_annotations=len(records),
            first_annotation_token=records[0]['token'],
            last_annotation_token=records[-1]['token'])
