# Copyright (c) mmkd contributors. All rights reserved.
"""The six nuScenes cameras, rendered by casting a ray per pixel into the
same world the LiDAR scans (so both agree geometrically)."""
import numpy as np

from .raycast import GROUND, NOTHING, cast_rays, face_normals
from .world import LANE_WIDTH, SIDEWALK_Y

#: name -> (yaw from ego +x in degrees, mount x, y, z in the ego frame,
#: focal length at 1600 x 900), after nuScenes' calibrated sensors
CAMERAS = {
    'CAM_FRONT': (0.0, 1.70, 0.02, 1.51, 1266.4),
    'CAM_FRONT_RIGHT': (-55.0, 1.55, -0.49, 1.50, 1260.8),
    'CAM_FRONT_LEFT': (55.0, 1.52, 0.49, 1.51, 1272.6),
    'CAM_BACK': (180.0, 0.03, 0.00, 1.58, 809.2),
    'CAM_BACK_LEFT': (110.0, 1.04, 0.48, 1.56, 1256.7),
    'CAM_BACK_RIGHT': (-110.0, 1.01, -0.48, 1.56, 1259.5),
}
FULL_SIZE = (1600, 900)
CLASS_COLOURS = dict(
    car=(200, 40, 40),
    truck=(40, 90, 200),
    pedestrian=(230, 180, 40),
    bicycle=(40, 190, 90),
    barrier=(240, 120, 20),
    traffic_cone=(250, 80, 160))
LIGHT = np.array([0.4, 0.3, 0.87]) / np.linalg.norm([0.4, 0.3, 0.87])


def camera_calibration(name: str, scale: float) -> tuple:
    """``cam2ego`` (4, 4) and ``cam2img`` (3, 3) of a camera whose images
    are ``scale`` times nuScenes' 1600 x 900; camera frame x right, y down,
    z forward."""
    yaw, x, y, z, focal = CAMERAS[name]
    yaw = np.deg2rad(yaw)
    forward = [np.cos(yaw), np.sin(yaw), 0.0]
    right = [np.sin(yaw), -np.cos(yaw), 0.0]
    down = [0.0, 0.0, -1.0]
    cam2ego = np.eye(4)
    cam2ego[:3, :3] = np.array([right, down, forward]).T
    cam2ego[:3, 3] = [x, y, z]
    width, height = image_size(scale)
    cam2img = np.array([[focal * scale, 0, width / 2],
                        [0, focal * scale, height / 2], [0, 0, 1.0]])
    return cam2ego, cam2img


def image_size(scale: float) -> tuple:
    return (int(round(FULL_SIZE[0] * scale)),
            int(round(FULL_SIZE[1] * scale)))


def render(scene, t: float, name: str, scale: float,
           rng: np.random.Generator, return_tracks: bool = False):
    """The ``name`` camera's RGB image (H, W, 3) uint8 at time ``t``; with
    ``return_tracks`` also the (H, W) index into ``scene.tracks`` of the
    object seen at each pixel (-1: none)."""
    cam2ego, cam2img = camera_calibration(name, scale)
    cam2global = scene.ego_pose(t) @ cam2ego
    width, height = image_size(scale)
    u, v = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    pix = np.stack([u.ravel(), v.ravel(), np.ones(u.size)], 1)
    dirs = pix @ np.linalg.inv(cam2img).T
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    dirs = dirs @ cam2global[:3, :3].T
    origin = cam2global[:3, 3]
    boxes, _, track_ids = scene.boxes(t)
    all_boxes = np.concatenate([scene.structures, boxes]) if len(boxes) \
        else scene.structures
    dist, hit, face = cast_rays(origin, dirs, all_boxes, 200.0)
    img = np.zeros((len(hit), 3))
    # sky: lighter towards the horizon
    sky = hit == NOTHING
    img[sky] = (np.array([110, 150, 210]) +
                60 * (1 - np.clip(dirs[sky, 2:3] * 4, 0, 1)))
    point = origin + dirs * np.where(np.isfinite(dist), dist, 0)[:, None]
    ground = hit == GROUND
    img[ground] = _ground_colour(scene, point[ground])
    num_struct = len(scene.structures)
    structure = (hit >= 0) & (hit < num_struct)
    img[structure] = _structure_colour(point[structure])
    on_object = hit >= num_struct
    names = [scene.tracks[i].name for i in track_ids]
    colours = np.array([CLASS_COLOURS[n] for n in names] or
                       np.zeros((0, 3)), float).reshape(-1, 3)
    obj = hit[on_object] - num_struct
    base = colours[obj]
    # windows: the upper third of vehicle sides is darker
    rel_h = (point[on_object, 2] - all_boxes[hit[on_object], 2]) / (
        all_boxes[hit[on_object], 5])
    vehicle = np.isin(np.array(names or [''])[obj], ['car', 'truck'])
    base[vehicle & (rel_h > 0.6)] *= 0.35
    img[on_object] = base
    # Lambert shading of box faces
    lit = structure | on_object
    if lit.any():
        normals = face_normals(face[lit], all_boxes[hit[lit], 6])
        shade = 0.45 + 0.55 * np.clip(normals @ LIGHT, 0, 1)
        img[lit] *= shade[:, None]
    img += rng.normal(0, 3, img.shape)
    img = np.clip(img, 0, 255).astype(np.uint8).reshape(height, width, 3)
    if not return_tracks:
        return img
    tracks = np.full(len(hit), -1)
    tracks[on_object] = track_ids[obj]
    return img, tracks.reshape(height, width)


def _ground_colour(scene, point):
    """Asphalt with lane markings, sidewalks, grass beyond."""
    # global -> road frame (the inverse rotation)
    x, y = ((point[:, :2] - scene.origin) @ scene.rotation).T
    colour = np.tile([90.0, 90.0, 95.0], (len(point), 1))
    colour += (8 * np.sin(x * 3.1) * np.sin(y * 2.3))[:, None]  # grain
    ay = np.abs(y)
    dashed = (np.abs(ay - LANE_WIDTH) < 0.08) & ((x % 6.0) < 3.0)
    centre = np.abs(ay - 0.15) < 0.08
    edge = np.abs(ay - 2 * LANE_WIDTH) < 0.1
    colour[dashed | edge] = (225, 225, 225)
    colour[centre] = (220, 190, 40)
    sidewalk = (ay > 2 * LANE_WIDTH + 0.3) & (ay < SIDEWALK_Y + 2.5)
    colour[sidewalk] = (150, 145, 140)
    tiles = sidewalk & (((x % 1.5) < 0.05) | ((y % 1.5) < 0.05))
    colour[tiles] = (120, 115, 110)
    colour[ay >= SIDEWALK_Y + 2.5] = (70, 120, 60)
    return colour


def _structure_colour(point):
    colour = np.tile([150.0, 110.0, 90.0], (len(point), 1))
    bricks = ((point[:, 2] % 0.5) < 0.05)
    colour[bricks] = (120, 120, 120)
    return colour

