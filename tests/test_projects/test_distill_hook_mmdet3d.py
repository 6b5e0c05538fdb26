# Copyright (c) mmkd contributors. All rights reserved.
"""projects/distill_hook_mmdet3d through ``Runner.from_cfg``, as mmdet3d's
tools/train.py runs it: X-Ray with the teacher view, on a tiny SimScenes
made Object-Complete (3.2 m pillars)."""
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from mmkd_testing import ROOT, save_random_teacher
from xray_standins import object_complete_root, shrink_distill_model

from mmkd.models.distillers.teacher import resolve_model_cfg

CONFIG = osp.join(
    ROOT, 'projects/distill_hook_mmdet3d/configs/'
    'centerpoint_pillar04-small_simscenes_xray-hook.py')


class CountPoints(Hook):
    """Points each model's pillar encoder gets, per side."""

    priority = 'LOWEST'

    def __init__(self):
        self.points = dict(student=[], teacher=[])

    def before_train(self, runner):
        distiller = next(h for h in runner.hooks
                         if type(h).__name__ == 'DistillHook').distiller
        for side, points in self.points.items():
            getattr(distiller, side).pts_voxel_encoder.register_forward_hook(
                lambda m, args, out, points=points: points.append(
                    int(args[1].sum())))


def test_mmdet3d_runner_distils_xray_with_the_hook(tiny_simscenes, tmp_path):
    root = object_complete_root(tiny_simscenes, str(tmp_path / 'simscenes'))
    cfg = Config.fromfile(CONFIG)
    hook = cfg.custom_hooks[0]
    assert hook.type == 'mmkd.DistillHook' and hook.teacher_view
    shrunk = shrink_distill_model(
        dict(student=cfg.model, teacher=hook.teacher), 3.2, 51.2)
    cfg.model, hook.teacher = shrunk.student, shrunk.teacher
    hook.teacher_ckpt = save_random_teacher(
        resolve_model_cfg(hook.teacher, 'teacher'),
        str(tmp_path / 'teacher.pth'), 'mmdet3d')
    cfg.work_dir = str(tmp_path / 'work')
    cfg.train_dataloader.batch_size = 1
    cfg.train_dataloader.dataset.data_root = root
    for key in ('val', 'test'):
        cfg[f'{key}_cfg'] = cfg[f'{key}_dataloader'] = None
        cfg[f'{key}_evaluator'] = None
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2)
    cfg.param_scheduler = []
    cfg.optim_wrapper = dict(
        type='OptimWrapper', optimizer=dict(type='SGD', lr=1e-4))
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=100)
    runner = Runner.from_cfg(cfg)
    count = CountPoints()
    runner.register_hook(count)
    runner.train()

    logged = runner.message_hub.log_scalars
    distill = [k for k in logged if k.startswith('train/distill.')]
    assert sorted(distill) == [
        'train/distill.loss_feature', 'train/distill.loss_heatmap',
        'train/distill.loss_regression'
    ]
    assert logged['train/distill.loss_feature'].current() > 0
    own = [k for k in logged if k.startswith('train/task')]
    total = logged['train/loss'].current()
    assert total == pytest.approx(
        sum(logged[k].current() for k in own + distill), rel=1e-4)
    # the teacher ran on its own, Object-Complete cloud: a superset of
    # the student's points
    assert len(count.points['teacher']) == 2
    assert all(t > s for t, s in zip(count.points['teacher'],
                                      count.points['student']))
