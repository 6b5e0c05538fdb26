# Copyright (c) mmkd contributors. All rights reserved.
"""Checks of the info files that
``tools/dataset_converters/xray_object_complete.py`` writes."""
import os.path as osp

from mmkd.datasets.sim_scenes.infos import _load_v2 as load_v2_infos
from mmkd.datasets.sim_scenes.infos import check_infos as check_lidar_infos
from .object_complete import TEACHER_PATH_KEY


def check_infos(info_file: str, root: str) -> str:
    """Check that an X-Ray info file points at existing Object-Complete
    keyframes: the teacher's ``lidar_path`` (or the student's
    ``lidar_path_teacher``) must name a file in the patched folder, whole
    points of ``num_pts_feats`` float32; then every LiDAR, sweep and image
    file is checked as for any info file.

    Args:
        info_file (str): A ``*_xray-teacher.pkl`` or ``*_xray-student.pkl``.
        root (str): The dataroot.

    Returns:
        str: The file's role, ``'teacher'`` or ``'student'``.

    Raises:
        ValueError: Infos not written by the tool, a path outside the
            patched folder or a file of the wrong size.
        FileNotFoundError: A missing patched file, naming it and the
            sample.
    """
    infos = load_v2_infos(info_file)
    settings = infos.get('metainfo', {}).get('object_complete')
    if not isinstance(settings, dict) or settings.get('role') not in (
            'teacher', 'student'):
        raise ValueError(
            f'{info_file!r} has no metainfo.object_complete: not infos of '
            'Object-Complete frames; write them with tools/'
            'dataset_converters/xray_object_complete.py')
    role = settings['role']
    key = 'lidar_path' if role == 'teacher' else TEACHER_PATH_KEY
    folder = osp.normpath(osp.join(root, settings['patched_folder']))
    for info in infos['data_list']:
        sample = info.get('token', info.get('sample_idx'))
        lidar = info['lidar_points']
        if key not in lidar:
            raise ValueError(f'{info_file!r} ({role} infos): sample '
                             f'{sample!r} has no lidar_points.{key}')
        path = osp.normpath(
            osp.join(root, settings['lidar_folder'], lidar[key]))
        if osp.dirname(path) != folder:
            raise ValueError(
                f'{info_file!r} ({role} infos): sample {sample!r} '
                f'lidar_points.{key} names {path!r}, outside the patched '
                f'folder {folder!r}')
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'{info_file!r} ({role} infos): the Object-Complete frame '
                f'{path!r} of sample {sample!r} is missing; run tools/'
                'dataset_converters/xray_object_complete.py on the '
                f'original infos ({settings["source"]})')
        size = osp.getsize(path)
        feats = int(lidar.get('num_pts_feats', 5))
        if size % (4 * feats):
            raise ValueError(
                f'{info_file!r}: the Object-Complete frame {path!r} of '
                f'sample {sample!r} has {size} bytes, not whole points of '
                f'{feats} float32 (truncated?)')
    check_lidar_infos(info_file, root)
    return role
