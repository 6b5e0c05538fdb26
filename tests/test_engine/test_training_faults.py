# Copyright (c) mmkd contributors. All rights reserved.
"""Training faults and resume in real runs: a non-finite distill loss stops
training before a checkpoint is written, resumed runs with dropout equal
uninterrupted ones bit for bit, and resuming after adding a connector names
the new parameters."""
import copy
import os
import os.path as osp

import pytest
import torch
from mmengine.testing import RunnerTestCase

import training_toys
from training_toys import distill_model, runner_cfg, save_teacher

import mmkd.models.distillers.distiller as distiller_module


def _student(runner):
    return {k: v.clone() for k, v in runner.model.state_dict().items()}


def _assert_equal(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


class TrainingFaultsTestCase(RunnerTestCase):

    def setUp(self):
        super().setUp()
        training_toys.register()
        self.teacher_ckpt = save_teacher(
            osp.join(self.temp_dir.name, 'teacher.pth'))

    def tearDown(self):
        training_toys.unregister()
        super().tearDown()

    def cfg(self, work_dir, model=None, **kwargs):
        model = model or distill_model(self.teacher_ckpt)
        return runner_cfg(self.epoch_based_cfg, model,
                          osp.join(self.temp_dir.name, work_dir), **kwargs)


class TestNonFiniteDistillLoss(TrainingFaultsTestCase):
    """An fp16 teacher meets inputs beyond float16's range (1e6) in the
    third iteration: its features and the distill loss become inf/NaN."""

    def _overflowing_cfg(self, model):
        cfg = self.cfg(
            'overflow',
            model=model,
            dataset=dict(type=f'mmkd.{training_toys.DATASET}', huge_from=4))
        cfg.train_dataloader.sampler.shuffle = False
        cfg.default_hooks.checkpoint = dict(
            type='CheckpointHook', interval=1, by_epoch=False,
            max_keep_ckpts=1)
        return cfg

    def _assert_stops_before_saving(self, cfg):
        runner = self.build_runner(cfg)
        with pytest.raises(FloatingPointError) as info:
            runner.train()
        msg = str(info.value)
        assert 'distill.loss_mse_feat' in msg
        assert 'at iteration 3' in msg
        assert "teacher tap 'feat'" in msg
        assert "teacher_dtype='bf16'" in msg
        assert 'loss_weight' in msg
        # the last good checkpoint survives max_keep_ckpts=1
        assert not osp.exists(osp.join(cfg.work_dir, 'iter_3.pth'))
        state = torch.load(osp.join(cfg.work_dir, 'iter_2.pth'))
        assert all(v.isfinite().all() for v in state['state_dict'].values())

    def test_distill_model(self):
        cfg = self._overflowing_cfg(
            distill_model(self.teacher_ckpt, teacher_dtype='fp16'))
        self._assert_stops_before_saving(cfg)

    def test_distill_hook(self):
        hook = distill_model(self.teacher_ckpt, teacher_dtype='fp16')
        model = hook.pop('student')
        hook.update(type='mmkd.DistillHook')
        cfg = self._overflowing_cfg(model)
        cfg.custom_hooks = [hook]
        self._assert_stops_before_saving(cfg)

    def test_fp16_teacher_on_cpu_warns(self):
        logged = []

        def record(msg, logger=None, level=None):
            logged.append(msg)

        orig = distiller_module.print_log
        distiller_module.print_log = record
        try:
            self.build_runner(
                self.cfg('fp16', distill_model(
                    self.teacher_ckpt, teacher_dtype='fp16')))
            fp16 = [m for m in logged if 'fp16' in m]
            logged.clear()
            self.build_runner(
                self.cfg('bf16', distill_model(
                    self.teacher_ckpt, teacher_dtype='bf16')))
        finally:
            distiller_module.print_log = orig
        if torch.cuda.is_available():
            assert not fp16
        else:
            assert len(fp16) == 1
            assert "teacher_dtype='fp16' runs the teacher on the CPU" in (
                fp16[0])
            assert "teacher_dtype='bf16'" in fp16[0]
        assert not [m for m in logged if 'fp16' in m]


class TestRandomStatesHook(TrainingFaultsTestCase):
    """3 epochs with dropout in one go equal 1 epoch + resume to 3."""

    def _straight_and_resumed(self, hooks, val=False):
        cfg = self.cfg('straight', max_epochs=3, val=val)
        cfg.custom_hooks = copy.deepcopy(hooks)
        straight = self.build_runner(cfg)
        straight.train()

        cfg = self.cfg('interrupted', max_epochs=1, val=val)
        cfg.custom_hooks = copy.deepcopy(hooks)
        self.build_runner(cfg).train()
        cfg = self.cfg('interrupted', max_epochs=3, val=val)
        cfg.custom_hooks = copy.deepcopy(hooks)
        cfg.resume = True
        cfg.load_from = osp.join(cfg.work_dir, 'epoch_1.pth')
        resumed = self.build_runner(cfg)
        resumed.train()
        assert resumed.epoch == 3
        return _student(straight), _student(resumed)

    def test_resume_differs_without_the_hook(self):
        # what the hook fixes: MMEngine restores no random state
        straight, resumed = self._straight_and_resumed([])
        assert any(not torch.equal(straight[k], resumed[k])
                   for k in straight)

    def test_resume_is_bit_identical(self):
        straight, resumed = self._straight_and_resumed(
            [dict(type='mmkd.RandomStatesHook')])
        _assert_equal(straight, resumed)

    def test_validation_does_not_shift_the_training_draws(self):
        # validation runs after the epoch's checkpoint: without isolating
        # it, its draws would be in the straight run only
        straight, resumed = self._straight_and_resumed(
            [dict(type='mmkd.RandomStatesHook')], val=True)
        _assert_equal(straight, resumed)
        plain, _ = self._straight_and_resumed(
            [dict(type='mmkd.RandomStatesHook')])
        _assert_equal(straight, plain)

    def test_iteration_based_with_random_augmentation(self):
        """Resumed at an epoch boundary (4 batches an epoch) and inside an
        epoch, with noise drawn while batches are fetched and validation
        every 3 iterations."""
        hooks = [dict(type='mmkd.RandomStatesHook')]
        noisy = dict(type=f'mmkd.{training_toys.DATASET}', noise=0.1)
        cfg = self.cfg('iters', max_iters=7, val=True, dataset=noisy)
        cfg.custom_hooks = copy.deepcopy(hooks)
        straight = self.build_runner(cfg)
        straight.train()
        for stop in (4, 5):
            cfg = self.cfg(f'iters{stop}', max_iters=stop, val=True,
                           dataset=noisy)
            cfg.custom_hooks = copy.deepcopy(hooks)
            self.build_runner(cfg).train()
            cfg = self.cfg(f'iters{stop}', max_iters=7, val=True,
                           dataset=noisy)
            cfg.custom_hooks = copy.deepcopy(hooks)
            cfg.resume = True
            cfg.load_from = osp.join(cfg.work_dir, f'iter_{stop}.pth')
            resumed = self.build_runner(cfg)
            resumed.train()
            assert resumed.iter == 7
            _assert_equal(_student(straight), _student(resumed))

    def test_states_saved_per_rank(self):
        cfg = self.cfg('states', max_epochs=1)
        cfg.custom_hooks = [dict(type='mmkd.RandomStatesHook')]
        self.build_runner(cfg).train()
        ckpt = torch.load(osp.join(cfg.work_dir, 'epoch_1.pth'))
        states = ckpt['random_states']
        assert len(states) == 1  # one rank
        assert set(states[0]) >= {'python', 'numpy', 'torch'}


class TestResumeAfterAddingAConnector(TrainingFaultsTestCase):

    def test_names_the_new_parameters(self):
        cfg = self.cfg('connector', max_epochs=1)
        self.build_runner(cfg).train()
        cfg = self.cfg(
            'connector',
            model=distill_model(
                self.teacher_ckpt,
                connectors=dict(feat=dict(
                    type='ConvConnector', in_channels=4, out_channels=4))),
            max_epochs=2)
        cfg.custom_hooks = [dict(type='mmkd.ResumeCheckHook')]
        cfg.resume = True
        cfg.load_from = osp.join(cfg.work_dir, 'epoch_1.pth')
        runner = self.build_runner(cfg)
        with pytest.raises(RuntimeError) as info:
            runner.train()
        msg = str(info.value)
        assert 'epoch_1.pth' in msg
        assert 'distiller.connectors.feat.conv.conv.weight' in msg
        assert 'load_from' in msg and 'without resume' in msg
        assert not osp.exists(osp.join(cfg.work_dir, 'epoch_2.pth'))

    def test_same_parameters_resume(self):
        cfg = self.cfg('same', max_epochs=1)
        cfg.custom_hooks = [dict(type='mmkd.ResumeCheckHook')]
        self.build_runner(cfg).train()
        cfg = self.cfg('same', max_epochs=2)
        cfg.custom_hooks = [dict(type='mmkd.ResumeCheckHook')]
        cfg.resume = True
        cfg.load_from = osp.join(cfg.work_dir, 'epoch_1.pth')
        self.build_runner(cfg).train()
        assert os.path.exists(osp.join(cfg.work_dir, 'epoch_2.pth'))
