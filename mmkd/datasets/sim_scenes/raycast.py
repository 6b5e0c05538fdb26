# Copyright (c) mmkd contributors. All rights reserved.
"""Ray casting against the ground plane and oriented boxes (numba), shared
by the LiDAR and the cameras so that both see the same geometry."""
import numba
import numpy as np

#: ``hit`` codes besides box indices
GROUND, NOTHING = -1, -2


@numba.njit(cache=True, inline='always')
def _slab(o, d, lo, hi, t_near, t_far, face, axis):
    """Clip ``[t_near, t_far]`` by one slab; returns the new interval and
    entry face (``t_near > t_far`` means a miss)."""
    if abs(d) < 1e-12:
        if o < lo or o > hi:
            return 1.0, 0.0, face
        return t_near, t_far, face
    t1 = (lo - o) / d
    t2 = (hi - o) / d
    f = -(axis + 1)
    if t1 > t2:
        t1, t2 = t2, t1
        f = axis + 1
    if t1 > t_near:
        t_near = t1
        face = f
    if t2 < t_far:
        t_far = t2
    return t_near, t_far, face


@numba.njit(cache=True)
def _cast(origin, dirs, boxes, max_range):
    num = dirs.shape[0]
    dist = np.full(num, np.inf)
    hit = np.full(num, NOTHING, np.int64)
    face = np.zeros(num, np.int64)  # box face: 1 + axis, negative for -side
    num_boxes = boxes.shape[0]
    cos_b = np.cos(boxes[:, 6])
    sin_b = np.sin(boxes[:, 6])
    # the origin in each box frame (origin at the bottom centre)
    ox = np.empty(num_boxes)
    oy = np.empty(num_boxes)
    oz = np.empty(num_boxes)
    for b in range(num_boxes):
        rx = origin[0] - boxes[b, 0]
        ry = origin[1] - boxes[b, 1]
        ox[b] = cos_b[b] * rx + sin_b[b] * ry
        oy[b] = -sin_b[b] * rx + cos_b[b] * ry
        oz[b] = origin[2] - boxes[b, 2]
    for r in range(num):
        dx, dy, dz = dirs[r, 0], dirs[r, 1], dirs[r, 2]
        best = max_range
        if dz < 0.0:
            t = -origin[2] / dz
            if 0.0 < t < best:
                best = t
                hit[r] = GROUND
                face[r] = 3
        for b in range(num_boxes):
            c, s = cos_b[b], sin_b[b]
            half_l = boxes[b, 3] / 2
            half_w = boxes[b, 4] / 2
            t_near, t_far, f = -np.inf, np.inf, 0
            t_near, t_far, f = _slab(ox[b], c * dx + s * dy, -half_l, half_l,
                                     t_near, t_far, f, 0)
            if t_near > t_far:
                continue
            t_near, t_far, f = _slab(oy[b], -s * dx + c * dy, -half_w,
                                     half_w, t_near, t_far, f, 1)
            if t_near > t_far:
                continue
            t_near, t_far, f = _slab(oz[b], dz, 0.0, boxes[b, 5], t_near,
                                     t_far, f, 2)
            if t_near > t_far or t_near <= 1e-6 or t_near >= best:
                continue  # a miss, behind or inside (sensors never are)
            best = t_near
            hit[r] = b
            face[r] = f
        if hit[r] != NOTHING:
            dist[r] = best
    return dist, hit, face


def cast_rays(origin: np.ndarray, dirs: np.ndarray, boxes: np.ndarray,
              max_range: float) -> tuple:
    """Nearest hit of each ray from ``origin``.

    Args:
        origin (np.ndarray): (3,) ray origin (global frame, z up).
        dirs (np.ndarray): (R, 3) unit directions.
        boxes (np.ndarray): (M, 7) ``x, y, z_bottom, l, w, h, yaw``.
        max_range (float): Farther hits are dropped.

    Returns:
        tuple: ``dist`` (R,) (inf: no hit), ``hit`` (R,) the box index,
        :data:`GROUND` or :data:`NOTHING`, ``face`` (R,) the box face hit,
        ``+-(1 + axis)`` in the box frame (3 for the ground).
    """
    boxes = np.ascontiguousarray(boxes, np.float64).reshape(-1, 7)
    if len(boxes):  # only boxes that can be within range
        reach = np.linalg.norm(boxes[:, 3:6], axis=1)
        near = np.linalg.norm(boxes[:, :2] - origin[:2], axis=1) < (
            max_range + reach)
        index = np.flatnonzero(near)
    else:
        index = np.zeros(0, np.int64)
    dist, hit, face = _cast(
        np.asarray(origin, np.float64),
        np.ascontiguousarray(dirs, np.float64),
        boxes[index], float(max_range))
    on_box = hit >= 0
    hit[on_box] = index[hit[on_box]]
    return dist, hit, face


def face_normals(face: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """(N, 3) global unit normals of the box faces ``face`` (as returned by
    :func:`cast_rays`) of boxes with heading ``yaw`` (N,)."""
    axis = np.abs(face) - 1
    local = np.zeros((len(face), 3))
    local[np.arange(len(face)), axis] = np.sign(face)
    c, s = np.cos(yaw), np.sin(yaw)
    return np.stack([c * local[:, 0] - s * local[:, 1],
                     s * local[:, 0] + c * local[:, 1], local[:, 2]], 1)


def points_in_boxes(points: np.ndarray, boxes: np.ndarray,
                    margin: float = 0.0) -> np.ndarray:
    """(N, M) bool: point n inside box m (``margin`` grows the boxes)."""
    boxes = np.asarray(boxes, float).reshape(-1, 7)
    rel = points[:, None, :2] - boxes[None, :, :2]
    c, s = np.cos(boxes[:, 6]), np.sin(boxes[:, 6])
    local_x = rel[..., 0] * c + rel[..., 1] * s
    local_y = -rel[..., 0] * s + rel[..., 1] * c
    z = points[:, None, 2] - boxes[None, :, 2]
    return ((np.abs(local_x) <= boxes[:, 3] / 2 + margin)
            & (np.abs(local_y) <= boxes[:, 4] / 2 + margin)
            & (z >= -margin) & (z <= boxes[:, 5] + margin))
