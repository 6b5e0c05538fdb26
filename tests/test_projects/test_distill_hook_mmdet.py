# Copyright (c) mmkd contributors. All rights reserved.
"""projects/distill_hook_mmdet through ``Runner.from_cfg``, as mmdet's
tools/train.py runs it."""
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from mmkd_testing import save_random_teacher

from mmkd.datasets import make_digit_scenes

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(
    ROOT, 'projects/distill_hook_mmdet/configs/'
    'retinanet_r50-r18_fpn_digit-scenes_distill-hook.py')


def test_mmdet_runner_distils_fpn_with_the_hook(tmp_path):
    data = str(tmp_path / 'digit_scenes')
    make_digit_scenes(data, num_train=4, num_val=2, seed=6)
    cfg = Config.fromfile(CONFIG)
    teacher_ckpt = save_random_teacher(cfg.custom_hooks[0]['teacher'],
                                       str(tmp_path / 'teacher.pth'), 'mmdet')

    cfg.work_dir = str(tmp_path / 'work')
    cfg.custom_hooks[0]['teacher_ckpt'] = teacher_ckpt
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].batch_size = 2
        cfg[loader].dataset.data_root = data
    cfg.val_evaluator.ann_file = osp.join(data,
                                          'annotations/instances_val.json')
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2,
                         val_interval=100)
    cfg.param_scheduler = []
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=100)
    runner = Runner.from_cfg(cfg)
    runner.train()

    logged = runner.message_hub.log_scalars
    assert logged['train/distill.loss_mse_fpn'].current() > 0
    total = logged['train/loss'].current()
    parts = sum(logged[f'train/{k}'].current()
                for k in ('loss_cls', 'loss_bbox', 'distill.loss_mse_fpn'))
    assert total == pytest.approx(parts, rel=1e-5)
