# Copyright (c) mmkd contributors. All rights reserved.
"""A rotating 32-beam LiDAR (nuScenes LIDAR_TOP-like) by ray casting."""
import numpy as np

from .raycast import GROUND, cast_rays, face_normals

#: nuScenes' HDL-32E: 32 beams from +10.67 to -30.67 degrees
BEAM_ELEVATIONS = np.deg2rad(np.linspace(10.67, -30.67, 32))
#: LIDAR_TOP on the roof; its x points right and y forward (nuScenes)
LIDAR2EGO = np.array([[0.0, 1.0, 0.0, 0.943713], [-1.0, 0.0, 0.0, 0.0],
                      [0.0, 0.0, 1.0, 1.84023], [0.0, 0.0, 0.0, 1.0]])
#: reflectivity by what is hit (intensity 0-255 scale)
REFLECTIVITY = dict(
    ground=12.0,
    structure=40.0,
    car=70.0,
    truck=60.0,
    pedestrian=25.0,
    bicycle=35.0,
    barrier=90.0,
    traffic_cone=120.0)


def beam_directions(num_azimuth: int) -> tuple:
    """Unit directions (32 * A, 3) in the LiDAR frame and ring index of
    each; azimuths start straight ahead (+y) and turn clockwise."""
    az = np.pi / 2 - np.arange(num_azimuth) * 2 * np.pi / num_azimuth
    el = BEAM_ELEVATIONS
    dirs = np.stack([
        np.cos(el)[:, None] * np.cos(az)[None],
        np.cos(el)[:, None] * np.sin(az)[None],
        np.repeat(np.sin(el)[:, None], num_azimuth, 1)
    ], -1).reshape(-1, 3)
    ring = np.repeat(np.arange(len(el)), num_azimuth)
    return dirs, ring


def scan(scene,
         t: float,
         rng: np.random.Generator,
         num_azimuth: int = 1080,
         max_range: float = 70.0,
         range_noise: float = 0.02) -> tuple:
    """One LiDAR sweep of ``scene`` at time ``t``.

    Args:
        scene (Scene): The world.
        t (float): Sweep time (s).
        rng (np.random.Generator): For the range noise.
        num_azimuth (int): Firings per revolution and beam.
        max_range (float): Metres.
        range_noise (float): Std of the range noise (m).

    Returns:
        tuple: ``points`` (N, 5) float32 ``x, y, z, intensity, ring`` in
        the LiDAR frame, and ``track`` (N,) the index into
        ``scene.tracks`` of the object each point is on (-1 otherwise).
    """
    sensor2global = scene.ego_pose(t) @ LIDAR2EGO
    dirs_l, ring = beam_directions(num_azimuth)
    dirs = dirs_l @ sensor2global[:3, :3].T
    origin = sensor2global[:3, 3]
    boxes, _, track_ids = scene.boxes(t)
    structures = scene.structures
    all_boxes = np.concatenate([structures, boxes]) if len(boxes) else (
        structures)
    dist, hit, face = cast_rays(origin, dirs, all_boxes, max_range)
    keep = np.isfinite(dist)
    dist, hit, face, ring, dirs_l = (dist[keep], hit[keep], face[keep],
                                     ring[keep], dirs_l[keep])
    num_struct = len(structures)
    track = np.full(len(hit), -1)
    on_object = hit >= num_struct
    track[on_object] = track_ids[hit[on_object] - num_struct]
    refl = np.full(len(hit), REFLECTIVITY['structure'])
    refl[hit == GROUND] = REFLECTIVITY['ground']
    names = np.array([tr.name for tr in scene.tracks] or [''])
    for name, value in REFLECTIVITY.items():
        refl[on_object & (names[np.maximum(track, 0)] == name)] = value
    # weaker returns at grazing incidence and with distance
    cos_inc = np.abs(_incidence(dirs_l, face, hit, all_boxes,
                                sensor2global))
    intensity = np.clip(refl * (0.3 + 0.7 * cos_inc) *
                        (1 - 0.4 * dist / max_range), 0, 255)
    dist = dist + range_noise * rng.standard_normal(len(dist))
    xyz = dirs_l * dist[:, None]
    points = np.concatenate(
        [xyz, intensity[:, None], ring[:, None]], 1).astype(np.float32)
    return points, track


def _incidence(dirs_l, face, hit, boxes, sensor2global):
    """cos of the angle between each ray and the normal it hits."""
    normals = np.zeros((len(hit), 3))
    normals[:, 2] = 1.0  # the ground
    on_box = hit >= 0
    normals[on_box] = face_normals(face[on_box], boxes[hit[on_box], 6])
    normals_l = normals @ sensor2global[:3, :3]  # global -> sensor
    return (normals_l * dirs_l).sum(1)
