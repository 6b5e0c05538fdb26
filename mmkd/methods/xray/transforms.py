# Copyright (c) mmkd contributors. All rights reserved.
"""The X-Ray student's two clouds: its own frame and the teacher's
Object-Complete frame of the same sample, loaded alike."""
import copy
import os.path as osp
from typing import List, Union

from mmcv.transforms import BaseTransform, Compose

from mmkd.datasets.transforms.teacher_views import (_rng_state,
                                                    _same_rng_state,
                                                    _set_rng_state, _where)
from mmkd.registry import TRANSFORMS

#: the student infos' key (in ``lidar_points``) of the teacher's cloud, as
#: ``tools/dataset_converters/xray_object_complete.py`` writes it
TEACHER_PATH_KEY = 'lidar_path_teacher'
TOOL = 'tools/dataset_converters/xray_object_complete.py'


@TRANSFORMS.register_module()
class LoadTeacherPoints(BaseTransform):
    """Load the student's points with ``transforms`` and the teacher's
    Object-Complete points with the same transforms and the same random
    draws into ``teacher_points``.

    The teacher's keyframe is ``lidar_points.lidar_path_teacher`` of the
    student's infos (``*_xray-student.pkl``), relative to the folder of the
    student's ``lidar_path``. Everything else is the student's: the same
    ``load_dim``/``use_dim``, and the same sweeps (the teacher's multi-sweep
    cloud is the patched keyframe plus the normal sweeps; in training,
    ``LoadPointsFromMultiSweeps`` draws which sweeps to take, and both
    clouds get the same draw). Put it where the student's point loaders
    were; augment both clouds with ``mmkd.SharedAugment``.

    Args:
        transforms (list[dict]): The student's point loaders, e.g.
            ``LoadPointsFromFile`` and ``LoadPointsFromMultiSweeps``.
        path_key (str): The key in ``lidar_points`` naming the teacher's
            keyframe. Defaults to ``'lidar_path_teacher'``.
        teacher_key (str): Where the teacher's points go. Defaults to
            ``'teacher_points'``.
    """

    def __init__(self,
                 transforms: List[Union[dict, callable]],
                 path_key: str = TEACHER_PATH_KEY,
                 teacher_key: str = 'teacher_points') -> None:
        if not transforms:
            raise ValueError('LoadTeacherPoints needs the point loaders, e.g. '
                             "[dict(type='LoadPointsFromFile', ...)]")
        self.transforms = Compose(transforms)
        self.path_key = path_key
        self.teacher_key = teacher_key

    def teacher_path(self, results: dict) -> str:
        """The teacher's keyframe file of a sample.

        Raises:
            KeyError: The infos have no ``lidar_points.<path_key>``.
            FileNotFoundError: The file is missing, naming it.
        """
        lidar = results.get('lidar_points', {})
        if self.path_key not in lidar or 'lidar_path' not in lidar:
            raise KeyError(
                f'LoadTeacherPoints: {_where(results)} has no lidar_points.'
                f'{self.path_key}: train the X-Ray student on the '
                f'*_xray-student.pkl infos that {TOOL} writes (keys: '
                f'{", ".join(sorted(lidar))})')
        path = osp.normpath(
            osp.join(osp.dirname(lidar['lidar_path']), lidar[self.path_key]))
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'LoadTeacherPoints: the Object-Complete frame {path!r} of '
                f'{_where(results)} is missing; run {TOOL} on the original '
                'infos (mmkd.methods.xray.check_infos checks them all)')
        return path

    def transform(self, results: dict) -> dict:
        path = self.teacher_path(results)
        # a shallow copy: the loaders add `points` and read the rest
        teacher = copy.copy(results)
        teacher['lidar_points'] = dict(results['lidar_points'],
                                       lidar_path=path)
        teacher['lidar_path'] = path
        before = _rng_state()
        results = self.transforms(results)
        after = _rng_state()
        _set_rng_state(before)
        teacher = self.transforms(teacher)
        if not _same_rng_state(after, _rng_state()):
            _set_rng_state(after)
            raise ValueError(
                f'LoadTeacherPoints: the teacher cloud of {_where(results)} '
                'drew other random numbers than the student\'s (other sweeps '
                f'would be taken); the loaders {self.transforms} must draw '
                'independently of the keyframe\'s points')
        results[self.teacher_key] = teacher['points']
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(transforms={self.transforms}, '
                f'path_key={self.path_key!r}, '
                f'teacher_key={self.teacher_key!r})')
