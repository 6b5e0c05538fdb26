# Copyright (c) mmkd contributors. All rights reserved.
"""Frames of an mmdet3d v2 (1.1+) LiDAR sample as 4 x 4 poses: sensor ->
ego -> global from its info, box -> sensor from an instance's ``bbox_3d``.

Boxes are mmdet3d's LiDAR boxes as the infos hold them: ``x, y, z`` the
gravity centre, ``l, w, h`` along the box's x, y, z and ``yaw`` about the
sensor's z axis (nuScenes' converter writes the centre, ``wlh`` as
``lwh`` and the yaw of the box in the sensor frame).
"""
from typing import Sequence

import numpy as np


def sensor_to_global(info: dict) -> np.ndarray:
    """``ego2global @ lidar2ego`` of a v2 info (float64 4 x 4).

    Raises:
        KeyError: Naming the sample and the missing pose.
    """
    try:
        lidar2ego = info['lidar_points']['lidar2ego']
        ego2global = info['ego2global']
    except KeyError as e:
        raise KeyError(
            f'sample {info.get("token", info.get("sample_idx"))!r} has no '
            f'{e.args[0]!r}: v2 infos hold lidar_points.lidar2ego and '
            'ego2global') from None
    return np.asarray(ego2global, np.float64) @ np.asarray(
        lidar2ego, np.float64)


def box_to_sensor(bbox_3d: Sequence[float]) -> np.ndarray:
    """The pose of a box (box frame -> sensor frame, float64 4 x 4): the
    box frame has its origin at the gravity centre and x along ``yaw``."""
    x, y, z, _, _, _, yaw = np.asarray(bbox_3d, np.float64)[:7]
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0, x], [s, c, 0.0, y], [0.0, 0.0, 1.0, z],
                     [0.0, 0.0, 0.0, 1.0]])


def transform_points(xyz: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 4 x 4 pose to points (N, 3); float64 out."""
    xyz = np.asarray(xyz, np.float64)
    return xyz @ matrix[:3, :3].T + matrix[:3, 3]


def inside_box(xyz_box: np.ndarray, bbox_3d: Sequence[float]) -> np.ndarray:
    """(N,) bool: points given in the box frame lie inside the box (faces
    included, as the nuScenes devkit's ``points_in_box``)."""
    half = np.asarray(bbox_3d, np.float64)[3:6] / 2
    return (np.abs(xyz_box) <= half).all(1)


def points_in_box(xyz: np.ndarray, bbox_3d: Sequence[float]) -> np.ndarray:
    """(N,) bool: points in the sensor frame inside a box of that frame."""
    return inside_box(
        transform_points(xyz, np.linalg.inv(box_to_sensor(bbox_3d))),
        bbox_3d)
