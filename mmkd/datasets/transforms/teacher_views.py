# Copyright (c) mmkd contributors. All rights reserved.
"""A second view of each sample for the teacher (teacher views).

A teacher may need other inputs than the student: a denser point cloud of
the same frame, camera images while the student sees points, or a weakly
augmented image while the student sees a strong one. The view travels in
the results under its own keys (``teacher_points``, ``teacher_img``):

- load it with mmcv's ``KeyMapper`` around a loading transform (e.g.
  ``LoadPointsFromFile`` mapped to ``teacher_points``), or copy the
  student's input before a student-only augmentation (:class:`CopyView`);
- augment both views alike with :class:`SharedAugment` (the same random
  flip, rotation, scale, translation, crop or resize), so that they stay
  aligned;
- pack it with :class:`PackTeacherView`, which adds ``teacher_inputs``
  next to the student's ``inputs``; the distiller passes them through the
  teacher's data preprocessor (``teacher_view=True`` of
  :class:`~mmkd.models.distillers.DistillModel` and ``DistillHook``).
"""
import copy
import random
from typing import Dict, List, Union

import numpy as np
import torch
from mmcv.transforms import BaseTransform, Compose

from mmkd.models.distillers.teacher_source import TEACHER_INPUTS
from mmkd.registry import TRANSFORMS


def _where(results: dict) -> str:
    for key in ('lidar_path', 'img_path', 'sample_idx'):
        if key in results:
            return f'{key}={results[key]!r}'
    return 'a sample'


def _check_views(views: Dict[str, str], name: str) -> Dict[str, str]:
    if not isinstance(views, dict) or not views:
        raise TypeError(f'{name}: views must map the student key to the '
                        "teacher key, e.g. dict(points='teacher_points'), "
                        f'got {views!r}')
    for student_key, teacher_key in views.items():
        if not (isinstance(student_key, str) and isinstance(teacher_key, str)
                and student_key != teacher_key):
            raise ValueError(f'{name}: views must map one key to another, '
                             f'got {student_key!r}: {teacher_key!r}')
    return dict(views)


def _teacher_results(results: dict, views: Dict[str, str],
                     name: str) -> dict:
    """The results as the teacher sees them: its keys in the student's
    places (so upstream transforms find them), nothing else changed."""
    for teacher_key in views.values():
        if teacher_key not in results:
            raise KeyError(
                f'{name}: {_where(results)} has no {teacher_key!r}; load or '
                'copy the teacher view before this transform (keys: '
                f'{", ".join(sorted(results))})')
    teacher = {k: v for k, v in results.items() if k not in views.values()}
    for student_key, teacher_key in views.items():
        teacher[student_key] = results[teacher_key]
    return teacher


@TRANSFORMS.register_module()
class CopyView(BaseTransform):
    """Copy the student's inputs to teacher keys, e.g. before a strong
    augmentation that only the student gets (weak/strong views).

    Args:
        views (dict): Student key to teacher key, e.g.
            ``dict(img='teacher_img')``.
    """

    def __init__(self, views: Dict[str, str]) -> None:
        self.views = _check_views(views, 'CopyView')

    def transform(self, results: dict) -> dict:
        for student_key, teacher_key in self.views.items():
            if student_key not in results:
                raise KeyError(f'CopyView: {_where(results)} has no '
                               f'{student_key!r} to copy')
            results[teacher_key] = copy.deepcopy(results[student_key])
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(views={self.views})'


def _rng_state() -> tuple:
    return random.getstate(), np.random.get_state(), torch.get_rng_state()


def _set_rng_state(state: tuple) -> None:
    random.setstate(state[0])
    np.random.set_state(state[1])
    torch.set_rng_state(state[2])


def _same_rng_state(a: tuple, b: tuple) -> bool:
    return a[0] == b[0] and a[1][0] == b[1][0] and np.array_equal(
        a[1][1], b[1][1]) and a[1][2:] == b[1][2:] and torch.equal(a[2], b[2])


def _small(value) -> bool:
    """A recorded augmentation parameter: a number, flag, string or a small
    array (a rotation matrix, a scale factor), not data."""
    if isinstance(value, (bool, int, float, str, np.number)) or value is None:
        return True
    if isinstance(value, np.ndarray):
        return value.size <= 16
    if isinstance(value, torch.Tensor):
        return value.numel() <= 16
    if isinstance(value, (list, tuple)):
        return len(value) <= 16 and all(_small(v) for v in value)
    return False


def _equal(a, b) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return torch.equal(torch.as_tensor(a), torch.as_tensor(b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return a == b


@TRANSFORMS.register_module()
class SharedAugment(BaseTransform):
    """Apply ``transforms`` to the student's view and, with the same random
    draws, to the teacher's, so both get one flip, rotation, scale,
    translation, crop or resize.

    The random states of ``random``, NumPy and torch are saved, the
    transforms run on the student's results, the states are restored and
    the transforms run again on a copy whose student keys hold the teacher
    view. The two runs must draw the same numbers: a transform whose draws
    depend on the data (a crop of an image of another size, a sampler over
    the points) is refused, and so is one that records other parameters
    (``pcd_rotation``, ``flip``, ``scale_factor``, ...) for the two views.

    Args:
        transforms (list[dict]): The shared augmentations.
        views (dict): Student key to teacher key, e.g.
            ``dict(points='teacher_points')``.

    Example:
        >>> dict(type='mmkd.SharedAugment',
        ...      views=dict(points='teacher_points'),
        ...      transforms=[
        ...          dict(type='mmdet3d.RandomFlip3D',
        ...               flip_ratio_bev_horizontal=0.5),
        ...          dict(type='mmdet3d.GlobalRotScaleTrans',
        ...               rot_range=[-0.78, 0.78],
        ...               scale_ratio_range=[0.95, 1.05])])  # doctest: +SKIP
    """

    def __init__(self, transforms: List[Union[dict, callable]],
                 views: Dict[str, str]) -> None:
        if not transforms:
            raise ValueError('SharedAugment needs at least one transform')
        self.views = _check_views(views, 'SharedAugment')
        self.transforms = Compose(transforms)

    def transform(self, results: dict) -> dict:
        # the teacher's copy is taken before the student's run edits the
        # shared fields (boxes, meta) in place
        teacher = copy.deepcopy(
            _teacher_results(results, self.views, 'SharedAugment'))
        before = _rng_state()
        student = self.transforms(results)
        after = _rng_state()
        _set_rng_state(before)
        teacher = self.transforms(teacher)
        if student is None or teacher is None:
            raise ValueError(f'SharedAugment: a transform dropped '
                             f'{_where(results)} for one view only')
        if not _same_rng_state(after, _rng_state()):
            _set_rng_state(after)
            raise ValueError(
                f'SharedAugment: the augmentation is not shared for '
                f'{_where(results)}: the teacher view drew other random '
                'numbers than the student view (a transform whose draws '
                'depend on the data, e.g. a crop of an image of another '
                f'size). Transforms: {self.transforms}')
        for key, value in student.items():
            if key in self.views or key in self.views.values() or \
                    key not in teacher or not _small(value):
                continue
            if not _equal(value, teacher[key]):
                raise ValueError(
                    f'SharedAugment: the augmentation is not shared for '
                    f'{_where(results)}: {key!r} is {value!r} for the '
                    f'student view and {teacher[key]!r} for the teacher')
        for student_key, teacher_key in self.views.items():
            student[teacher_key] = teacher[student_key]
        return student

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(views={self.views}, '
                f'transforms={self.transforms})')


@TRANSFORMS.register_module()
class PackTeacherView(BaseTransform):
    """Pack the student's view with ``pack`` and the teacher's with the same
    packing, adding the teacher's packed inputs as ``teacher_inputs``.

    The data samples (ground truth, meta) are the student's: with shared
    augmentation they hold for both views.

    Args:
        pack (dict): The packing transform of the student's pipeline, e.g.
            ``dict(type='mmdet3d.Pack3DDetInputs', keys=['points', ...])``.
        views (dict): Student key to teacher key.
    """

    def __init__(self, pack: dict, views: Dict[str, str]) -> None:
        self.views = _check_views(views, 'PackTeacherView')
        self.pack = TRANSFORMS.build(pack) if isinstance(pack, dict) else pack

    def transform(self, results: dict) -> dict:
        teacher = _teacher_results(results, self.views, 'PackTeacherView')
        # packing copies and converts; it does not edit the results
        packed = self.pack(results)
        packed[TEACHER_INPUTS] = self.pack(teacher)['inputs']
        return packed

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(pack={self.pack}, '
                f'views={self.views})')

