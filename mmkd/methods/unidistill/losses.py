# Copyright (c) mmkd contributors. All rights reserved.
"""UniDistill's three distillation losses (Zhou et al., CVPR 2023)."""
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.dist import all_reduce
from torch import Tensor

from mmkd.models.losses.base_distill_loss import BaseDistillLoss
from mmkd.registry import MODELS
from mmkd.models.utils import (bev_grid, box_keypoints, format_grid,
                               gaussian_box_mask, gt_boxes, num_classes,
                               out_channels, range_xy, resample_bev,
                               same_grid, sample_keypoints, values_close)

#: CenterHead regression outputs, in the order they are concatenated
REG_KEYS = ('reg', 'height', 'dim', 'rot', 'vel', 'iou')


def _mean_over_ranks(count: Tensor) -> Tensor:
    """The count averaged over ranks, as the official normaliser."""
    count = count.detach().clone().float()
    all_reduce(count, op='mean')
    return count


def _one_map(x, name: str, side: str) -> Tensor:
    if isinstance(x, (list, tuple)):
        if len(x) != 1:
            raise ValueError(
                f'{name}: the {side} tap yields {len(x)} maps; a UniDistill '
                'BEV loss reads one map (tap a module that returns one, '
                'e.g. the BEV neck)')
        x = x[0]
    if not isinstance(x, Tensor) or x.dim() != 4:
        raise ValueError(f'{name}: the {side} tap must give a (B, C, Y, X) '
                         f'BEV map, got {getattr(x, "shape", type(x))}')
    return x


def _structure(x) -> str:
    if isinstance(x, (list, tuple)):
        return f'{type(x).__name__}[{", ".join(_structure(v) for v in x)}]'
    return type(x).__name__


class BEVDistillLoss(BaseDistillLoss):
    """What the three UniDistill losses share: the grid they read, the
    ground-truth boxes in it, and build-time checks of both models.

    A tap that yields a list (a BEV neck's levels) is passed whole; it must
    hold one map.

    Args:
        point_cloud_range (Sequence[float]): (x0, y0, z0, x1, y1, z1) that the
            student's BEV maps cover; boxes whose centre is outside are
            dropped.
        loss_weight (float): >= 0. Defaults to 1.0.
        resample_teacher (bool): Declare that the teacher's BEV grid differs
            from the student's; its maps are then read on its own grid (key
            points) or resampled onto the student's (response). Without it,
            different grids are refused at build time. Defaults to False.
        teacher_point_cloud_range (Sequence[float], optional): The
            teacher's range when ``resample_teacher``; read from the
            teacher's head when None. Defaults to None.
    """

    takes_sequences = True
    requires_same_shape = False
    #: whether check_models compares the channels of the tapped maps
    checks_channels = True

    def __init__(self,
                 point_cloud_range: Sequence[float],
                 loss_weight: float = 1.0,
                 resample_teacher: bool = False,
                 teacher_point_cloud_range: Optional[Sequence[float]] = None
                 ) -> None:
        # no element-wise reduction: each loss normalises by its own count
        super().__init__(loss_weight=loss_weight)
        if len(point_cloud_range) != 6:
            raise ValueError(f'{type(self).__name__}: point_cloud_range must '
                             'be (x0, y0, z0, x1, y1, z1), got '
                             f'{point_cloud_range}')
        if teacher_point_cloud_range is not None and not resample_teacher:
            raise ValueError(
                f'{type(self).__name__}: teacher_point_cloud_range is given '
                'without resample_teacher=True')
        self.point_cloud_range = [float(v) for v in point_cloud_range]
        self.resample_teacher = resample_teacher
        self.teacher_point_cloud_range = [
            float(v) for v in teacher_point_cloud_range
        ] if teacher_point_cloud_range is not None else None

    def extra_repr(self) -> str:
        return (f'loss_weight={self.loss_weight}, '
                f'point_cloud_range={self.point_cloud_range}')

    @property
    def teacher_range(self) -> List[float]:
        return self.teacher_point_cloud_range or self.point_cloud_range

    def check_models(self, name: str, student: nn.Module, teacher: nn.Module,
                     student_tap: dict, teacher_tap: dict,
                     connector: Optional[nn.Module]) -> None:
        """Refuse grids and channels that do not match, at build time."""
        s_grid, t_grid = bev_grid(student), bev_grid(teacher)
        if s_grid is not None and not values_close(s_grid['point_cloud_range'],
                                             range_xy(self.point_cloud_range)):
            raise ValueError(
                f'distill loss {name!r}: point_cloud_range '
                f'{self.point_cloud_range} differs from the x/y range of the '
                f"student's head {list(s_grid['point_cloud_range'])}")
        if s_grid is not None and t_grid is not None and not same_grid(
                s_grid, t_grid):
            if not self.resample_teacher:
                raise ValueError(
                    f'distill loss {name!r}: the teacher and the student BEV '
                    f'grids differ (student {format_grid(s_grid)}, teacher '
                    f'{format_grid(t_grid)}); give both models one grid, or '
                    'set resample_teacher=True to read the teacher on its own '
                    'grid')
            if self.teacher_point_cloud_range is None:
                tx0, ty0, tx1, ty1 = t_grid['point_cloud_range']
                self.teacher_point_cloud_range = [tx0, ty0, 0., tx1, ty1, 0.]
        if self.checks_channels:
            self._check_channels(name, student, teacher, student_tap,
                                 teacher_tap, connector)

    def _check_channels(self, name, student, teacher, student_tap,
                        teacher_tap, connector) -> None:
        s_module = student.get_submodule(student_tap['path'])
        t_module = teacher.get_submodule(teacher_tap['path'])
        if student_tap['io'] == 'input' or teacher_tap['io'] == 'input':
            return
        s_ch, t_ch = out_channels(s_module), out_channels(t_module)
        if connector is not None:
            c_ch = out_channels(connector)
            if c_ch is not None and t_ch is not None and c_ch != t_ch:
                raise ValueError(
                    f'distill loss {name!r}: the connector of student tap '
                    f"{student_tap['path']!r} gives {c_ch} channels but the "
                    f"teacher's {teacher_tap['path']!r} has {t_ch}")
            return
        if s_ch is not None and t_ch is not None and s_ch != t_ch:
            raise ValueError(
                f'distill loss {name!r}: student {student_tap["path"]!r} has '
                f'{s_ch} channels, teacher {teacher_tap["path"]!r} {t_ch}; '
                'add connectors=dict(<student tap>=dict(type='
                f"'mmkd.ConvConnector', in_channels={s_ch}, "
                f'out_channels={t_ch}))')


class _KeypointLoss(BEVDistillLoss):
    """Samples both BEV maps at the nine key points of every box.

    Args:
        faithful_xy_swap (bool): Sample as the official code, with x and y
            swapped (the points' mirror images across the diagonal of a
            square map). Defaults to False: at the boxes' own cells.
    """

    def __init__(self, *args, faithful_xy_swap: bool = False,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.faithful_xy_swap = faithful_xy_swap

    def sample(self, student, teacher, data_samples):
        name = type(self).__name__
        student = _one_map(student, name, 'student')
        teacher = _one_map(teacher, name, 'teacher').detach()
        if student.shape[:2] != teacher.shape[:2]:
            raise ValueError(
                f'{name}: student map {tuple(student.shape)} and teacher map '
                f'{tuple(teacher.shape)} differ in batch or channels; add a '
                'connector on the student tap')
        boxes = gt_boxes(data_samples, self.point_cloud_range, student.device)
        points = [box_keypoints(b) for b in boxes]
        s, _ = sample_keypoints(student, points, self.point_cloud_range,
                                self.faithful_xy_swap)
        t, _ = sample_keypoints(teacher, points, self.teacher_range,
                                self.faithful_xy_swap)
        return s, t, sum(b.shape[0] for b in boxes)

    def reduce(self, per_box: Tensor, num_boxes: int) -> Tensor:
        count = _mean_over_ranks(per_box.new_tensor(num_boxes))
        return self.loss_weight * per_box.sum() / (count + 1e-4)


@MODELS.register_module()
class BEVKeypointFeatureLoss(_KeypointLoss):
    """UniDistill's feature distillation on encoder BEV maps.

    ``sum_boxes mean_{9 points, C} |F_s - F_t| / (boxes + 1e-4)``, the box
    count averaged over ranks.
    """

    def forward(self, student, teacher, data_samples=None) -> Tensor:
        s, t, n = self.sample(student, teacher, data_samples)
        return self.reduce((s - t).abs().mean(dim=(1, 2)), n)


@MODELS.register_module()
class BEVKeypointRelationLoss(_KeypointLoss):
    """UniDistill's relation distillation on BEV neck maps.

    Per box, the nine feature vectors are L2-normalised
    (``x / (|x| + 1e-4)``) and their 9x9 cosine-similarity matrices compared:
    ``sum_boxes mean_{9x9} |R_s - R_t| / (boxes + 1e-4)``.
    """

    def forward(self, student, teacher, data_samples=None) -> Tensor:
        s, t, n = self.sample(student, teacher, data_samples)
        s = s / (s.norm(dim=-1, keepdim=True) + 1e-4)
        t = t / (t.norm(dim=-1, keepdim=True) + 1e-4)
        rel_s = s @ s.transpose(1, 2)
        rel_t = t @ t.transpose(1, 2)
        return self.reduce((rel_s - rel_t).abs().mean(dim=(1, 2)), n)


@MODELS.register_module()
class BEVResponseLoss(BEVDistillLoss):
    """UniDistill's response distillation on CenterHead outputs.

    Classification: L1 between the class-max heatmaps, the student's
    ``sigmoid(logit)`` and the teacher's ``sigmoid(logit / T)`` (T = 2),
    both clamped to [eps, 1 - eps]. Regression: L1 averaged over the
    concatenated regression channels (``reg_keys`` present in the head).
    Both are weighted by the class-agnostic Gaussian box mask and divided by
    its sum (averaged over ranks) + 1e-4; the loss is their sum.

    Reads a CenterHead's output (a tuple over tasks of a list over one
    level of dicts), one task's dict or a list of task dicts; the tasks'
    heatmaps are concatenated before the class max.

    Args:
        teacher_temperature (float): Defaults to 2.0.
        eps (float): Clamp of the sigmoids. Defaults to 1e-4.
        min_overlap (float): Of the Gaussian radius. Defaults to 0.7.
        min_radius (int): Defaults to 0.
        reg_keys (Sequence[str]): Defaults to :data:`REG_KEYS`.
    """

    checks_channels = False

    def __init__(self,
                 *args,
                 teacher_temperature: float = 2.0,
                 eps: float = 1e-4,
                 min_overlap: float = 0.7,
                 min_radius: int = 0,
                 reg_keys: Sequence[str] = REG_KEYS,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.teacher_temperature = teacher_temperature
        self.eps = eps
        self.min_overlap = min_overlap
        self.min_radius = min_radius
        self.reg_keys = tuple(reg_keys)

    def check_models(self, name, student, teacher, student_tap, teacher_tap,
                     connector) -> None:
        super().check_models(name, student, teacher, student_tap,
                             teacher_tap, connector)
        s_cls, t_cls = num_classes(student), num_classes(teacher)
        if s_cls is not None and t_cls is not None and s_cls != t_cls:
            raise ValueError(
                f'distill loss {name!r}: the student head has {s_cls} '
                f'classes, the teacher head {t_cls}')

    def _tasks(self, outs, side: str) -> List[dict]:
        if isinstance(outs, dict):
            return [outs]
        tasks = []
        for task in outs if isinstance(outs, (list, tuple)) else [None]:
            if isinstance(task, (list, tuple)) and len(task) == 1:
                task = task[0]  # CenterHead: one list over levels per task
            if not isinstance(task, dict):
                raise ValueError(
                    f'BEVResponseLoss: the {side} tap must give CenterHead '
                    'outputs (a tuple over tasks of one-level lists of '
                    f'dicts) or task dicts, got {_structure(outs)}')
            tasks.append(task)
        return tasks

    def _maps(self, outs, side: str):
        tasks = self._tasks(outs, side)
        for i, task in enumerate(tasks):
            if 'heatmap' not in task:
                raise KeyError(f"BEVResponseLoss: task {i} of the {side} "
                               f"head has no 'heatmap' (keys: {list(task)})")
        keys = [k for k in self.reg_keys if k in tasks[0]]
        heatmap = torch.cat([t['heatmap'] for t in tasks], dim=1)
        reg = torch.cat([t[k] for t in tasks for k in keys], dim=1)
        return heatmap, reg, keys

    def forward(self, student, teacher, data_samples=None) -> Tensor:
        s_hm, s_reg, s_keys = self._maps(student, 'student')
        t_hm, t_reg, t_keys = self._maps(teacher, 'teacher')
        if s_keys != t_keys or s_hm.shape[1] != t_hm.shape[1] or \
                s_reg.shape[1] != t_reg.shape[1]:
            raise ValueError(
                f'BEVResponseLoss: student heads {s_keys} with '
                f'{s_hm.shape[1]} classes, {s_reg.shape[1]} regression '
                f'channels; teacher {t_keys}, {t_hm.shape[1]}, '
                f'{t_reg.shape[1]}')
        t_hm, t_reg = t_hm.detach(), t_reg.detach()
        if t_hm.shape[-2:] != s_hm.shape[-2:] or not values_close(
                range_xy(self.teacher_range),
                range_xy(self.point_cloud_range)):
            if not self.resample_teacher:
                raise ValueError(
                    f'BEVResponseLoss: student heatmaps are '
                    f'{tuple(s_hm.shape[-2:])}, teacher heatmaps '
                    f'{tuple(t_hm.shape[-2:])}; set resample_teacher=True '
                    'to resample the teacher onto the student grid')
            args = (self.teacher_range, self.point_cloud_range,
                    s_hm.shape[-2:])
            t_hm = resample_bev(t_hm, *args)
            t_reg = resample_bev(t_reg, *args)
        s_cls = s_hm.sigmoid().clamp(self.eps, 1 - self.eps).amax(dim=1)
        t_cls = (t_hm / self.teacher_temperature).sigmoid().clamp(
            self.eps, 1 - self.eps).amax(dim=1)
        boxes = gt_boxes(data_samples, self.point_cloud_range, s_hm.device)
        mask = gaussian_box_mask(boxes, s_hm.shape[-2:],
                                 self.point_cloud_range, self.min_overlap,
                                 self.min_radius)
        norm = _mean_over_ranks(mask.sum()) + 1e-4
        loss_cls = ((s_cls - t_cls).abs() * mask).sum() / norm
        loss_reg = ((s_reg - t_reg).abs().mean(dim=1) * mask).sum() / norm
        return self.loss_weight * (loss_cls + loss_reg)
