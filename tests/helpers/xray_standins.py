# Copyright (c) mmkd contributors. All rights reserved.
"""X-Ray's tests: a tiny Object-Complete SimScenes and CenterPoint configs
shrunk to run on CPU in seconds."""
import os.path as osp
import shutil

from mmengine.config import ConfigDict

from mmkd.models.distillers.teacher import resolve_model_cfg


def object_complete_root(tiny_root: str, dst: str) -> str:
    """A copy of the tiny SimScenes root with X-Ray's infos and patched
    keyframes written by the generator's library function (the session's
    root stays unchanged)."""
    from mmkd.methods.xray import make_object_complete
    shutil.copytree(tiny_root, dst)
    for split in ('train', 'val'):
        make_object_complete(osp.join(dst, f'simscenes_infos_{split}.pkl'),
                             dst)
    return dst


def shrink_centerpoint(model: dict, cell: float, extent: float) -> dict:
    """A CenterPoint config on ``cell``-metre pillars/voxels of a
    ``+-extent`` grid (its point_cloud_range unchanged otherwise), so that
    a step takes a second on CPU; channels stay."""
    model = ConfigDict(model)
    n = int(round(2 * extent / cell))
    voxel = [cell, cell, model.data_preprocessor.voxel_layer.voxel_size[2]]
    model.data_preprocessor.voxel_layer.voxel_size = voxel
    model.data_preprocessor.voxel_layer.max_voxels = (4000, 4000)
    if 'voxel_size' in model.pts_voxel_encoder:
        model.pts_voxel_encoder.voxel_size = voxel
    if 'output_shape' in model.pts_middle_encoder:
        model.pts_middle_encoder.output_shape = (n, n)
    model.pts_bbox_head.bbox_coder.voxel_size = voxel[:2]
    model.train_cfg.pts.grid_size = [n, n, 1]
    model.train_cfg.pts.voxel_size = voxel
    model.test_cfg.pts.voxel_size = voxel[:2]
    return model


def shrink_distill_model(model: dict, cell: float, extent: float) -> dict:
    """:func:`shrink_centerpoint` on a DistillModel's student and teacher;
    the teacher keeps its ``cfg_path`` (which XRayInfosCheckHook reads),
    the shrunk parts given next to it."""
    model = ConfigDict(model)
    model.student = shrink_centerpoint(model.student, cell, extent)
    teacher = shrink_centerpoint(
        resolve_model_cfg(model.teacher, 'teacher'), cell, extent)
    model.teacher = ConfigDict(
        cfg_path=model.teacher.cfg_path,
        **{key: teacher[key]
           for key in ('data_preprocessor', 'pts_voxel_encoder',
                       'pts_middle_encoder', 'pts_bbox_head', 'train_cfg',
                       'test_cfg')})
    return model
