# Copyright (c) mmkd contributors. All rights reserved.
"""mmdet3d 1.4 info files for nuScenes-format data (SimScenes or the real
nuScenes), made by mmdet3d's own converters, plus the sequence fields the
3D distillation methods need and mmdet3d drops."""
import contextlib
import importlib.util
import json
import os
import os.path as osp
import tempfile

import mmengine

SIX_CAMERAS = ('CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK',
               'CAM_BACK_LEFT', 'CAM_BACK_RIGHT')
#: the fields :func:`add_sequence_fields` writes
SEQUENCE_FIELDS = ('scene_token', 'scene_name', 'frame_idx', 'prev', 'next')
INSTANCE_FIELDS = ('instance_token', 'annotation_token')


def _mmdet3d_tool(name: str):
    """A converter module shipped in mmdet3d's package (``.mim/tools``)."""
    import mmdet3d
    path = osp.join(osp.dirname(mmdet3d.__file__), '.mim', 'tools',
                    'dataset_converters', name + '.py')
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'mmdet3d converter {path!r} not found (mmdet3d 1.4 ships it '
            'under mmdet3d/.mim/tools/dataset_converters)')
    spec = importlib.util.spec_from_file_location(f'_mmdet3d_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def _as_data_nuscenes(root: str):
    """mmdet3d's ``update_infos_to_v2`` opens ``./data/nuscenes``: run it
    from a temporary folder where that path is ``root``."""
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(osp.join(tmp, 'data'))
        os.symlink(osp.abspath(root), osp.join(tmp, 'data', 'nuscenes'))
        os.chdir(tmp)
        try:
            yield
        finally:
            os.chdir(cwd)


def create_infos(root: str,
                 version: str = 'v1.0-mini',
                 info_prefix: str = 'nuscenes',
                 max_sweeps: int = 10) -> list:
    """Write ``<info_prefix>_infos_{train,val}.pkl`` into ``root`` as
    ``tools/create_data.py nuscenes`` followed by ``update_infos_to_v2``
    would, then add the sequence fields.

    Returns:
        list[str]: The info files.
    """
    check_nuscenes_root(root, version)
    with open(osp.join(root, version, 'sensor.json')) as f:
        channels = {s['channel'] for s in json.load(f)}
    missing = [c for c in SIX_CAMERAS if c not in channels]
    if missing:
        raise ValueError(
            f'{root!r}: mmdet3d\'s nuscenes_converter reads all six cameras; '
            f'{version}/sensor.json has no {missing} (generate with all '
            'cameras to write infos)')
    converter = _mmdet3d_tool('nuscenes_converter')
    update = _mmdet3d_tool('update_infos_to_v2')
    converter.create_nuscenes_infos(
        root, info_prefix, version=version, max_sweeps=max_sweeps)
    files = [
        osp.join(root, f'{info_prefix}_infos_{split}.pkl')
        for split in ('train', 'val')
    ]
    # absolute before the change of directory
    abs_files, abs_root = [osp.abspath(f) for f in files], osp.abspath(root)
    with _as_data_nuscenes(abs_root):
        for path in abs_files:
            update.update_nuscenes_infos(path, abs_root)
    from nuscenes.nuscenes import NuScenes
    nusc = NuScenes(version=version, dataroot=root, verbose=False)
    for path in files:
        add_sequence_fields(path, nusc)
        check_infos(path, root)
    return files


def check_infos(info_file: str, root: str) -> None:
    """Check that every LiDAR file (keyframe and sweeps) and camera image
    an info file names exists under ``root``.

    Raises:
        FileNotFoundError: Naming the file, the sample and the field.
    """
    infos = _load_v2(info_file)
    for info in infos['data_list']:
        paths = [('lidar_points.lidar_path',
                  osp.join('samples', 'LIDAR_TOP',
                           info['lidar_points']['lidar_path']))]
        for i, sweep in enumerate(info.get('lidar_sweeps', [])):
            path = sweep['lidar_points']['lidar_path']
            # earlier keyframes are sweeps too (mmdet3d's rule)
            folder = 'samples' if 'samples' in path else 'sweeps'
            paths.append((f'lidar_sweeps[{i}].lidar_points.lidar_path',
                          osp.join(folder, 'LIDAR_TOP',
                                   osp.basename(path))))
        for cam, image in info.get('images', {}).items():
            if image.get('img_path'):
                paths.append((f'images.{cam}.img_path',
                              osp.join('samples', cam, image['img_path'])))
        for field, path in paths:
            if not osp.isfile(osp.join(root, path)):
                raise FileNotFoundError(
                    f'{info_file!r}: sample {info["token"]!r} field {field} '
                    f'names {path!r}, which is not under {root!r}')


def _load_v2(info_file: str) -> dict:
    infos = mmengine.load(info_file)
    if not isinstance(infos, dict) or 'data_list' not in infos:
        keys = sorted(infos) if isinstance(infos, dict) else type(
            infos).__name__
        raise ValueError(
            f'{info_file!r}: not an mmdet3d >= 1.1 (v2) info file: no '
            f'`data_list` (found {keys}); convert infos of older mmdet3d '
            'versions with tools/dataset_converters/update_infos_to_v2.py '
            'of mmdet3d first')
    return infos


def check_nuscenes_root(root: str, version: str) -> None:
    """Refuse a dataroot that is not nuScenes-shaped, naming what is
    missing."""
    tables = osp.join(root, version)
    needed = [osp.join(tables, f'{t}.json') for t in (
        'scene', 'sample', 'sample_data', 'sample_annotation', 'instance',
        'calibrated_sensor', 'ego_pose', 'sensor', 'category', 'log', 'map')]
    needed += [osp.join(root, 'samples')]
    missing = [p for p in needed if not osp.exists(p)]
    if missing:
        raise FileNotFoundError(
            f'{root!r} is not a nuScenes dataroot for {version!r}: missing '
            f'{missing[0]!r}' + (f' (and {len(missing) - 1} more)'
                                 if len(missing) > 1 else ''))


def add_sequence_fields(info_file: str, nusc) -> None:
    """Add to each sample of a v2 info file its ``scene_token``,
    ``scene_name``, ``frame_idx`` (keyframe index in the scene), ``prev``
    / ``next`` sample tokens ('' at the ends), and to each instance its
    ``instance_token`` and ``annotation_token`` (the annotations in the
    order mmdet3d's converter wrote them).

    Raises:
        ValueError: If the file is not a v2 info file of ``nusc``'s data.
    """
    infos = _load_v2(info_file)
    for info in infos['data_list']:
        try:
            sample = nusc.get('sample', info['token'])
        except KeyError:
            raise ValueError(
                f'{info_file!r}: sample token {info["token"]!r} is not in '
                f'the nuScenes tables at {nusc.dataroot!r}') from None
        scene = nusc.get('scene', sample['scene_token'])
        info.update(
            scene_token=scene['token'],
            scene_name=scene['name'],
            prev=sample['prev'],
            next=sample['next'])
        frame, token = 0, scene['first_sample_token']
        while token != sample['token']:
            token = nusc.get('sample', token)['next']
            frame += 1
        info['frame_idx'] = frame
        anns = sample['anns']
        if len(anns) != len(info['instances']):
            raise ValueError(
                f'{info_file!r}: sample {sample["token"]!r} has {len(anns)} '
                f'annotations but {len(info["instances"])} `instances`')
        for instance, ann in zip(info['instances'], anns):
            instance['instance_token'] = nusc.get('sample_annotation',
                                                  ann)['instance_token']
            instance['annotation_token'] = ann
    infos['metainfo']['sequence_fields'] = list(SEQUENCE_FIELDS)
    infos['metainfo']['instance_fields'] = list(INSTANCE_FIELDS)
    mmengine.dump(infos, info_file)
