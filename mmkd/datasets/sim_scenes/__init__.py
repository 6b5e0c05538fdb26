# Copyright (c) mmkd contributors. All rights reserved.
"""SimScenes: a generated nuScenes-format driving dataset (LiDAR sweeps,
six cameras, ego poses, tracked boxes) for the 3D methods."""
from .camera import CAMERAS, camera_calibration, render
from .lidar import LIDAR2EGO, scan
from .raycast import GROUND, NOTHING, cast_rays, points_in_boxes
from .world import CLASSES, Scene, Track, make_scene

__all__ = [
    'CAMERAS', 'CLASSES', 'GROUND', 'LIDAR2EGO', 'NOTHING', 'Scene', 'Track',
    'camera_calibration', 'cast_rays', 'make_scene', 'points_in_boxes',
    'render', 'scan'
]
