# Copyright (c) mmkd contributors. All rights reserved.
"""projects/distill_hook_mmseg through mmseg's own entry point, the
``Runner.from_cfg`` call of its tools/train.py."""
import os
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from mmkd_testing import assert_ranks_identical, run_dist, save_random_teacher

from mmkd.datasets import make_digit_scenes
from mmkd.engine.hooks import DistillHook

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(
    ROOT, 'projects/distill_hook_mmseg/configs/'
    'fcn_r18-w8_digit-scenes_distill-hook.py')
# the unmodified mmseg config the hook config adds distillation to
STUDENT = osp.join(
    ROOT, 'configs/digit_scenes/fcn_r18-w8_2k_digit-scenes-128x128.py')


@pytest.fixture(scope='module')
def data_and_teacher(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('hook')
    data = str(tmp / 'digit_scenes')
    make_digit_scenes(data, num_train=4, num_val=2, seed=5)
    ckpt = save_random_teacher(
        Config.fromfile(CONFIG).custom_hooks[0]['teacher'],
        str(tmp / 'teacher.pth'), 'mmseg')
    return tmp, data, ckpt


def make_cfg(tmp, data, teacher_ckpt, work_dir, max_iters=2, resume=False):
    cfg = Config.fromfile(CONFIG)
    cfg.work_dir = str(tmp / work_dir)
    cfg.custom_hooks[0]['teacher_ckpt'] = teacher_ckpt
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].batch_size = 2
        cfg[loader].dataset.data_root = data
    cfg.train_cfg.max_iters = max_iters
    cfg.train_cfg.val_interval = 100
    cfg.default_hooks.checkpoint.interval = 1
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.visualization.draw = False
    cfg.resume = resume
    return cfg


def test_mmseg_runner_distils_with_the_hook(data_and_teacher):
    tmp, data, teacher_ckpt = data_and_teacher
    runner = Runner.from_cfg(make_cfg(tmp, data, teacher_ckpt, 'run'))
    runner.train()

    hook = next(h for h in runner.hooks if isinstance(h, DistillHook))
    logged = runner.message_hub.log_scalars
    assert 'train/distill.loss_cwd_logits' in logged
    assert 'train/distill.loss_mse_c5' in logged
    # the distill losses are part of the back-propagated total
    total = logged['train/loss'].current()
    parts = sum(logged[k].current() for k in logged
                if k.startswith('train/') and 'loss' in k.split('/')[-1]
                and k != 'train/loss')
    assert total == pytest.approx(parts, rel=1e-5)

    # connectors are optimised, the teacher is not, and neither is a
    # submodule of the project's model
    optimizer = runner.optim_wrapper.optimizer
    optim_params = {id(p) for g in optimizer.param_groups for p in g['params']}
    connector_params = list(hook.distiller.connectors.parameters())
    assert {id(p) for p in connector_params} <= optim_params
    assert not optim_params & {
        id(p) for p in hook.distiller.teacher.parameters()}
    assert all(not k.startswith(('teacher', 'distiller', 'connectors'))
               for k in runner.model.state_dict())
    # the schedulers drive the connectors' learning rate too
    lrs = [g['lr'] for g in optimizer.param_groups]
    assert lrs[-1] == pytest.approx(lrs[0])

    ckpt = torch.load(osp.join(runner.work_dir, 'iter_2.pth'))
    saved = ckpt['distill_connectors']
    for k, v in hook.distiller.connectors.state_dict().items():
        assert torch.equal(saved[k], v)


def test_resume_restores_connectors(data_and_teacher):
    tmp, data, teacher_ckpt = data_and_teacher
    runner = Runner.from_cfg(
        make_cfg(tmp, data, teacher_ckpt, 'resume', max_iters=1))
    runner.train()
    saved = torch.load(osp.join(runner.work_dir,
                                'iter_1.pth'))['distill_connectors']

    resumed = Runner.from_cfg(
        make_cfg(tmp, data, teacher_ckpt, 'resume', max_iters=1,
                 resume=True))
    hook = next(h for h in resumed.hooks if isinstance(h, DistillHook))
    resumed.train()  # nothing left to train: only loads the checkpoint
    for k, v in hook.distiller.connectors.state_dict().items():
        assert torch.equal(saved[k], v), k


def test_hook_under_ddp_keeps_ranks_identical(data_and_teacher):
    """Two gloo processes: connector gradients are averaged across ranks,
    so connectors (outside the model's DDP) stay identical, as does the
    student."""
    tmp, data, teacher_ckpt = data_and_teacher
    work_dir = str(tmp / 'ddp')
    os.makedirs(work_dir)
    config = str(tmp / 'hook_ddp.py')
    with open(config, 'w') as f:
        f.write(f"_base_ = ['{CONFIG}']\n"
                "custom_imports = dict(imports=['mmkd', 'dump_rank_weights'],"
                ' allow_failed_imports=False)\n'
                'custom_hooks = _base_.custom_hooks + [dict('
                f"type='DumpRankWeights', out_dir='{work_dir}')]\n"
                f"train_dataloader = dict(batch_size=2, dataset=dict("
                f"data_root='{data}'))\n"
                # training builds the val loop: not the default data root
                f"val_dataloader = dict(dataset=dict(data_root='{data}'))\n"
                'train_cfg = dict(max_iters=3, val_interval=100)\n'
                'default_hooks = dict(checkpoint=dict(interval=100))\n')
    run_dist('tools/dist_train.sh', config, '2', '--work-dir', work_dir,
             '--cfg-options', f'custom_hooks.0.teacher_ckpt={teacher_ckpt}',
             port=29535)
    params = assert_ranks_identical(work_dir)
    assert any(k.startswith('hook.connectors.') for k in params)


def test_hook_with_ema_and_validation(data_and_teacher):
    """mmengine's EMAHook next to DistillHook: the EMA copy validates."""
    tmp, data, teacher_ckpt = data_and_teacher
    cfg = make_cfg(tmp, data, teacher_ckpt, 'ema')
    cfg.custom_hooks.append(dict(type='EMAHook', momentum=0.5))
    cfg.train_cfg.val_interval = 2
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert 'val/mIoU' in runner.message_hub.log_scalars
    ema = next(h for h in runner.hooks if type(h).__name__ == 'EMAHook')
    hook = next(h for h in runner.hooks if isinstance(h, DistillHook))
    # the EMA copy averages the student only: no teacher, no connectors
    ema_keys = ema.ema_model.state_dict().keys()
    assert not any('teacher' in k or 'connectors' in k for k in ema_keys)
    assert hook.distiller.teacher is not None


def test_hook_tap_the_model_lacks(data_and_teacher):
    tmp, data, teacher_ckpt = data_and_teacher
    cfg = make_cfg(tmp, data, teacher_ckpt, 'bad_tap')
    cfg.custom_hooks[0]['taps']['student']['c5'] = 'backbone.layer5'
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ValueError,
                       match="student tap 'c5': EncoderDecoder has no module "
                       "'backbone.layer5'; closest existing: backbone.layer"):
        runner.train()
    assert not osp.exists(osp.join(runner.work_dir, 'iter_1.pth'))


def test_hook_with_teacher_cache(data_and_teacher):
    """tools/cache_teacher.py on a hook config; training then reads the
    cache and never runs the teacher."""
    import subprocess
    import sys
    tmp, data, teacher_ckpt = data_and_teacher
    config = str(tmp / 'hook_cache.py')
    with open(config, 'w') as f:
        f.write(f"_base_ = ['{CONFIG}']\n"
                'train_dataloader = dict(batch_size=2, dataset=dict('
                f"data_root='{data}', pipeline=["
                "dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),"
                " dict(type='RandomFlip', prob=0.5), "
                "dict(type='PackSegInputs')]))\n"
                f"val_dataloader = dict(dataset=dict(data_root='{data}'))\n")
    cache_dir = str(tmp / 'hook_cache')
    proc = subprocess.run([
        sys.executable, 'tools/cache_teacher.py', config, '--out', cache_dir,
        '--cfg-options', f'custom_hooks.0.teacher_ckpt={teacher_ckpt}'
    ],
                          cwd=ROOT,
                          capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # 4 canvases, flipped and not
    assert 'teacher cache: 8 entries' in proc.stdout

    cfg = Config.fromfile(config)
    cfg.work_dir = str(tmp / 'hook_cache_run')
    cfg.custom_hooks[0]['teacher_ckpt'] = teacher_ckpt
    cfg.custom_hooks[0]['teacher_cache'] = cache_dir
    cfg.train_cfg.max_iters = 2
    cfg.train_cfg.val_interval = 100
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.interval = 100
    runner = Runner.from_cfg(cfg)
    calls = []

    class CountTeacher(Hook):

        def before_train(self, runner):
            hook = next(h for h in runner.hooks
                        if isinstance(h, DistillHook))
            hook.distiller.teacher.register_forward_pre_hook(
                lambda *a: calls.append(1))

    runner.register_hook(CountTeacher())
    runner.train()
    assert 'train/distill.loss_cwd_logits' in runner.message_hub.log_scalars
    assert not calls


def test_test_only_run_needs_no_teacher(data_and_teacher):
    """mmseg's tools/test.py (a test-only Runner) on the hook config: the
    hook stays inert (no optimizer to extend, no teacher built or loaded),
    so a missing teacher checkpoint does not matter and the metrics are
    those of the plain student config."""
    tmp, data, teacher_ckpt = data_and_teacher
    runner = Runner.from_cfg(
        make_cfg(tmp, data, teacher_ckpt, 'test_only', max_iters=1))
    runner.train()
    # before_run runs again on the trained runner: nothing is added twice
    groups = len(runner.optim_wrapper.optimizer.param_groups)
    trained = runner.test()
    assert len(runner.optim_wrapper.optimizer.param_groups) == groups
    ckpt = osp.join(runner.work_dir, 'iter_1.pth')
    assert 'distill_connectors' in torch.load(ckpt)

    cfg = make_cfg(tmp, data, str(tmp / 'no_such_teacher.pth'),
                   'test_only_eval')
    cfg.load_from = ckpt
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    hook = next(h for h in runner.hooks if isinstance(h, DistillHook))
    assert hook.distiller is None
    assert 'loss' not in vars(runner.model)  # the loss is not patched

    student = Config.fromfile(STUDENT)
    student.work_dir = str(tmp / 'test_only_student')
    student.test_dataloader.batch_size = 2
    student.test_dataloader.dataset.data_root = data
    student.default_hooks.visualization.draw = False
    student.load_from = ckpt
    plain = Runner.from_cfg(student).test()
    assert metrics == plain == trained
