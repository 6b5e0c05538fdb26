# Copyright (c) mmkd contributors. All rights reserved.
"""The SimScenes road world: a straight road with lanes, sidewalks, walls
and poles, and objects of nuScenes classes moving on smooth tracks.

Everything is in a scene's global frame (metres, z up, ground at z = 0).
Objects are oriented cuboids ``(x, y, z, l, w, h, yaw)`` with ``z`` the
bottom, ``l`` along the heading (``yaw`` from +x, counter-clockwise).
"""
from dataclasses import dataclass, field
from typing import Dict, List

import numpy as np

#: nuScenes detection classes SimScenes draws, with their nuScenes category,
#: typical size (length, width, height; nuScenes means) and a size jitter.
CLASSES: Dict[str, dict] = {
    'car': dict(category='vehicle.car', size=(4.63, 1.96, 1.74), jitter=0.08),
    'truck': dict(category='vehicle.truck', size=(6.93, 2.51, 2.84),
                  jitter=0.10),
    'pedestrian': dict(category='human.pedestrian.adult',
                       size=(0.73, 0.67, 1.77), jitter=0.08),
    'bicycle': dict(category='vehicle.bicycle', size=(1.70, 0.60, 1.29),
                    jitter=0.05),
    'barrier': dict(category='movable_object.barrier',
                    size=(0.50, 2.53, 0.98), jitter=0.05),
    'traffic_cone': dict(category='movable_object.trafficcone',
                         size=(0.41, 0.41, 1.07), jitter=0.05),
}
LANE_WIDTH = 3.5
SIDEWALK_Y = 9.0  # centre of the sidewalks, both sides
WALL_Y = 12.5


@dataclass
class Track:
    """An object moving along ``x(t) = x0 + d (v t + a sin(w t + p) / w)``
    on the line ``y = y0`` (``d`` = +1/-1 the direction), or crossing the
    road (``cross``: along y), present for ``t0 <= t <= t1``."""
    name: str
    size: tuple
    x0: float
    y0: float
    speed: float
    direction: float
    amp: float = 0.0
    omega: float = 1.0
    phase: float = 0.0
    cross: bool = False
    t0: float = -np.inf
    t1: float = np.inf

    def _along(self, t):
        t = np.asarray(t, float)
        return (self.speed * t + self.amp *
                (np.sin(self.omega * t + self.phase) - np.sin(self.phase)) /
                self.omega)

    def _rate(self, t):
        t = np.asarray(t, float)
        return self.speed + self.amp * np.cos(self.omega * t + self.phase)

    def box(self, t: float) -> np.ndarray:
        """(7,) ``x, y, z_bottom, l, w, h, yaw`` at time ``t``."""
        s = self.direction * self._along(t)
        if self.cross:
            x, y = self.x0, self.y0 + s
            yaw = np.pi / 2 if self.direction > 0 else -np.pi / 2
        else:
            x, y = self.x0 + s, self.y0
            yaw = 0.0 if self.direction > 0 else np.pi
        return np.array([x, y, 0.0, *self.size, yaw])

    def velocity(self, t: float) -> np.ndarray:
        """(2,) ground velocity (m/s) at ``t``."""
        v = self.direction * self._rate(t)
        return np.array([0.0, v]) if self.cross else np.array([v, 0.0])

    def present(self, t: float) -> bool:
        return self.t0 <= t <= self.t1


@dataclass
class Scene:
    """A scene: the ego track, static structures and object tracks, all in
    the scene's road frame, placed in the global frame by ``origin`` and
    ``heading`` (so that ego poses differ between scenes)."""
    name: str
    duration: float
    ego_speed: float
    ego_lane_y: float
    origin: np.ndarray
    heading: float
    structures: np.ndarray  # (S, 7) static global boxes: walls, poles
    tracks: List[Track] = field(default_factory=list)

    @property
    def rotation(self) -> np.ndarray:
        """(2, 2) road-to-global rotation."""
        c, s = np.cos(self.heading), np.sin(self.heading)
        return np.array([[c, -s], [s, c]])

    def road_to_global(self, xy: np.ndarray) -> np.ndarray:
        return xy @ self.rotation.T + self.origin

    def ego_pose(self, t: float) -> np.ndarray:
        """4x4 ego-to-global transform at ``t`` (the ego drives along +x of
        the road at ``ego_speed``)."""
        xy = self.road_to_global(
            np.array([[self.ego_speed * t, self.ego_lane_y]]))[0]
        pose = np.eye(4)
        pose[:2, :2] = self.rotation
        pose[:2, 3] = xy
        return pose

    def boxes(self, t: float) -> tuple:
        """Global boxes (N, 7), velocities (N, 2) and track indices (N,) of
        the objects present at ``t``."""
        ids = [i for i, tr in enumerate(self.tracks) if tr.present(t)]
        if not ids:
            return np.zeros((0, 7)), np.zeros((0, 2)), np.zeros(0, int)
        boxes = np.stack([self.tracks[i].box(t) for i in ids])
        vel = np.stack([self.tracks[i].velocity(t) for i in ids])
        return (self.to_global(boxes), self.rotate(vel), np.array(ids))

    def to_global(self, boxes: np.ndarray) -> np.ndarray:
        boxes = boxes.copy()
        boxes[:, :2] = self.road_to_global(boxes[:, :2])
        boxes[:, 6] = wrap(boxes[:, 6] + self.heading)
        return boxes

    def rotate(self, vec: np.ndarray) -> np.ndarray:
        return vec @ self.rotation.T


def wrap(angle):
    """Angles into [-pi, pi)."""
    return (np.asarray(angle) + np.pi) % (2 * np.pi) - np.pi


def _size(rng, name):
    spec = CLASSES[name]
    return tuple(
        float(v * (1 + spec['jitter'] * rng.standard_normal()))
        for v in spec['size'])


def make_scene(rng: np.random.Generator, name: str,
               duration: float) -> Scene:
    """Draw a scene: two lanes each way, the ego in one of the right-hand
    lanes, traffic in all four, cyclists at the kerb, pedestrians on the
    sidewalks (a few crossing), barriers and cones at the roadside, walls
    and poles behind the sidewalks."""
    ego_speed = float(rng.uniform(4.0, 9.0))
    ego_lane_y = -LANE_WIDTH / 2 - LANE_WIDTH * int(rng.integers(2))
    span = ego_speed * duration
    lo, hi = -60.0, span + 60.0
    structures = []
    for side in (-1, 1):
        x = lo
        while x < hi:  # wall segments with gaps
            length = float(rng.uniform(8, 25))
            structures.append([x + length / 2, side * WALL_Y, 0.0, length,
                               0.4, float(rng.uniform(2.5, 6.0)), 0.0])
            x += length + float(rng.uniform(2, 10))
        for x in np.arange(lo, hi, float(rng.uniform(15, 30))):
            structures.append([x, side * (SIDEWALK_Y + 2.0), 0.0, 0.25, 0.25,
                               6.0, 0.0])
    tracks = []
    lanes = [(-LANE_WIDTH / 2, 1), (-3 * LANE_WIDTH / 2, 1),
             (LANE_WIDTH / 2, -1), (3 * LANE_WIDTH / 2, -1)]
    for y, direction in lanes:
        x = lo + float(rng.uniform(0, 15))
        while x < hi:
            cls = 'truck' if rng.random() < 0.2 else 'car'
            size = _size(rng, cls)
            if not (abs(y - ego_lane_y) < 0.1 and -12 < x < 12):
                speed = float(rng.uniform(0, 11))  # some stand still
                tracks.append(Track(cls, size, x, y, speed, direction,
                                    amp=min(speed, 1.0) * 0.5,
                                    omega=float(rng.uniform(0.3, 0.8)),
                                    phase=float(rng.uniform(0, 6.3))))
            x += size[0] + float(rng.uniform(8, 35))
    for side in (-1, 1):
        for x in rng.uniform(lo, hi, int(rng.integers(4, 8))):
            tracks.append(Track('bicycle', _size(rng, 'bicycle'), float(x),
                                side * (2 * LANE_WIDTH + 0.7),
                                float(rng.uniform(2, 5)), -side))
        for x in rng.uniform(lo, hi, int(rng.integers(8, 16))):
            tracks.append(Track('pedestrian', _size(rng, 'pedestrian'),
                                float(x), side * SIDEWALK_Y +
                                float(rng.uniform(-1.2, 1.2)),
                                float(rng.uniform(0.6, 1.6)),
                                float(rng.choice([-1, 1])),
                                amp=0.2, omega=float(rng.uniform(1, 3))))
        for x in rng.uniform(lo, hi, int(rng.integers(2, 5))):
            tracks.append(Track('barrier', _size(rng, 'barrier'), float(x),
                                side * (2 * LANE_WIDTH + 2.0), 0.0, 1.0))
        for x in rng.uniform(lo, hi, int(rng.integers(3, 7))):
            tracks.append(Track('traffic_cone', _size(rng, 'traffic_cone'),
                                float(x), side * (2 * LANE_WIDTH + 1.5), 0.0,
                                1.0))
    for _ in range(int(rng.integers(1, 4))):  # pedestrians crossing
        t0 = float(rng.uniform(0, duration * 0.6))
        x = ego_speed * t0 + float(rng.uniform(15, 40))
        speed = float(rng.uniform(1.0, 1.6))
        direction = float(rng.choice([-1, 1]))
        # start on a sidewalk at t0, gone once across
        y0 = -direction * SIDEWALK_Y - direction * speed * t0
        tracks.append(Track('pedestrian', _size(rng, 'pedestrian'), x, y0,
                            speed, direction, cross=True, t0=t0,
                            t1=t0 + 2 * SIDEWALK_Y / speed))
    scene = Scene(
        name=name,
        duration=duration,
        ego_speed=ego_speed,
        ego_lane_y=ego_lane_y,
        origin=rng.uniform(-500, 500, 2),
        heading=float(rng.uniform(-np.pi, np.pi)),
        structures=np.zeros((0, 7)),
        tracks=tracks)
    scene.structures = scene.to_global(np.array(structures, float))
    return scene
