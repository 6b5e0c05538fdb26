# Copyright (c) mmkd contributors. All rights reserved.
"""DistillLossWeightHook, StopDistillHook and MeanTeacherHook in real runs."""
import copy
import os.path as osp
from unittest import TestCase

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner.checkpoint import _load_checkpoint
from mmengine.testing import RunnerTestCase
from torch.utils.data import Dataset

from mmkd.engine.hooks import (DistillLossWeightHook, MeanTeacherHook,
                               StopDistillHook, get_distiller,
                               schedule_factor)
from mmkd.engine.hooks.mean_teacher_hook import drop_registered_teacher
from mmkd.registry import DATASETS, MODELS

NET = 'DistillHookToyNet'
SELF_NET = 'DistillHookSelfDistilNet'
DATASET = 'DistillHookToyDataset'


class DistillHookToyNet(BaseModel):
    """Conv backbone + linear head regressing a scalar from a 1x4x4 map."""

    def __init__(self, data_preprocessor=None, init_cfg=None):
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1),
                                      nn.ReLU())
        self.head = nn.Linear(3, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        feat = self.backbone(torch.stack(inputs))
        return self.head(feat.mean((2, 3))).squeeze(1)

    def loss(self, inputs, data_samples):
        out = self(inputs, mode='tensor')
        return dict(loss=F.mse_loss(out, torch.stack(data_samples)))


class DistillHookSelfDistilNet(DistillHookToyNet):
    """A method's own model exposing the DistillControls protocol: a distill
    term ``loss_toy`` (the head's output pulled to 0) it scales and drops
    itself."""

    def __init__(self, data_preprocessor=None, init_cfg=None):
        super().__init__(data_preprocessor, init_cfg)
        self.distill_loss_scales = dict(toy=1.0)
        self.distill_enabled = True
        self.scales_seen = []

    def loss(self, inputs, data_samples):
        self.scales_seen.append(self.distill_loss_scales['toy'])
        losses = super().loss(inputs, data_samples)
        if self.distill_enabled:
            pred = self(inputs, mode='tensor')
            losses['loss_toy'] = (self.distill_loss_scales['toy'] *
                                  pred.pow(2).mean())
        return losses


class DistillHookToyDataset(Dataset):
    METAINFO = dict()
    data = torch.randn(8, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    label = torch.linspace(-1, 1, 8)

    @property
    def metainfo(self):
        return self.METAINFO

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        return dict(inputs=self.data[index], data_samples=self.label[index])


class Recorder(Hook):
    """Records what a test needs at each stage; runs after other hooks."""

    priority = 'LOWEST'

    def __init__(self):
        self.outputs = []
        self.before_train_state = None
        self.teacher_before_iter = []
        self.student_after_iter = []

    @staticmethod
    def _state(module):
        return {k: v.clone() for k, v in module.state_dict().items()}

    def before_train(self, runner):
        model = runner.model
        if not hasattr(model, 'teacher'):  # a model of its own
            return
        self.before_train_state = dict(
            teacher=self._state(model.teacher),
            student=self._state(model.student),
            synced=model.teacher_synced)

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if hasattr(runner.model, 'teacher'):
            self.teacher_before_iter.append(
                self._state(runner.model.teacher))

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        self.outputs.append(dict(outputs))
        if hasattr(runner.model, 'student'):
            self.student_after_iter.append(
                self._state(runner.model.student))


def assert_state_equal(a, b):
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=0, rtol=0, msg=k)


def states_differ(a, b):
    return any(not torch.equal(a[k], b[k]) for k in a)


class TestScheduleFactor(TestCase):

    def test_linear(self):
        s = dict(type='linear', start_factor=0.2, begin=2, end=10)
        for progress, expected in [(0, 0.2), (2, 0.2), (6, 0.6), (8, 0.8),
                                   (10, 1.0), (50, 1.0)]:
            self.assertAlmostEqual(schedule_factor(s, progress), expected)
        # defaults: start_factor 0, begin 0
        self.assertAlmostEqual(
            schedule_factor(dict(type='linear', end=4), 1), 0.25)

    def test_step(self):
        s = dict(type='step', milestones=[3, 6], gamma=0.5)
        for progress, expected in [(0, 1.0), (2, 1.0), (3, 0.5), (5, 0.5),
                                   (6, 0.25), (100, 0.25)]:
            self.assertAlmostEqual(schedule_factor(s, progress), expected)
        # default gamma 0.1
        self.assertAlmostEqual(
            schedule_factor(dict(type='step', milestones=[1]), 1), 0.1)

    def test_cosine(self):
        s = dict(type='cosine', eta_min=0.1, begin=0, end=4)
        # 0.1 + 0.9 * (1 + cos(pi * t)) / 2
        for progress, expected in [(0, 1.0), (1, 0.868198052),
                                   (2, 0.55), (3, 0.231801948),
                                   (4, 0.1), (9, 0.1)]:
            self.assertAlmostEqual(
                schedule_factor(s, progress), expected, places=6)
        s = dict(type='cosine', begin=10, end=20)
        self.assertEqual(schedule_factor(s, 5), 1.0)
        self.assertAlmostEqual(schedule_factor(s, 15), 0.5)
        self.assertAlmostEqual(schedule_factor(s, 20), 0.0)

    def test_constant(self):
        s = dict(type='constant', factor=0.016)
        for progress in (0, 1, 999, 10**6):
            self.assertEqual(schedule_factor(s, progress), 0.016)
        with self.assertRaisesRegex(
                KeyError, "constant schedule of 'kd' needs factor"):
            DistillLossWeightHook(schedules=dict(kd=dict(type='constant')))
        with self.assertRaisesRegex(
                KeyError, r"constant schedule of 'kd' has unknown key 'end'"):
            DistillLossWeightHook(
                schedules=dict(kd=dict(type='constant', factor=1, end=3)))
        with self.assertRaisesRegex(ValueError, r'factor=-1'):
            DistillLossWeightHook(
                schedules=dict(kd=dict(type='constant', factor=-1)))

    def test_validation(self):
        with self.assertRaisesRegex(ValueError, 'at least one schedule'):
            DistillLossWeightHook(schedules=dict())
        with self.assertRaisesRegex(
                ValueError, r"schedule of 'mse_feat' has type 'exp'"):
            DistillLossWeightHook(schedules=dict(mse_feat=dict(type='exp')))
        with self.assertRaisesRegex(ValueError, "'mse_feat' has type None"):
            DistillLossWeightHook(schedules=dict(mse_feat=dict(end=3)))
        with self.assertRaisesRegex(
                KeyError, r"linear schedule of 'mse_feat' has unknown key "
                r"'eta_min'"):
            DistillLossWeightHook(schedules=dict(
                mse_feat=dict(type='linear', end=3, eta_min=0.)))
        with self.assertRaisesRegex(
                KeyError, r"step schedule of 'kd' has unknown key 'end'"):
            DistillLossWeightHook(
                schedules=dict(kd=dict(type='step', milestones=[1], end=3)))
        with self.assertRaisesRegex(KeyError,
                                    "step schedule of 'kd' needs milestones"):
            DistillLossWeightHook(schedules=dict(kd=dict(type='step')))
        for kind in ('linear', 'cosine'):
            with self.assertRaisesRegex(
                    KeyError, f"{kind} schedule of 'kd' needs end"):
                DistillLossWeightHook(
                    schedules=dict(kd=dict(type=kind, begin=2)))
        with self.assertRaisesRegex(
                ValueError,
                r"schedule of 'kd': end \(5\) must be after begin \(5\)"):
            DistillLossWeightHook(
                schedules=dict(kd=dict(type='linear', begin=5, end=5)))
        with self.assertRaisesRegex(
                ValueError,
                r"schedule of 'kd': end \(0\) must be after begin \(0\)"):
            DistillLossWeightHook(schedules=dict(kd=dict(type='cosine',
                                                         end=0)))

    def test_negative_factor_refused(self):
        # a negative factor turns the loss into a push away from the teacher
        for schedule, key in [(dict(type='linear', start_factor=-1., end=3),
                               'start_factor'),
                              (dict(type='step', milestones=[1], gamma=-2),
                               'gamma'),
                              (dict(type='cosine', eta_min=-0.1, end=3),
                               'eta_min')]:
            with self.assertRaisesRegex(
                    ValueError,
                    rf"DistillLossWeightHook: {schedule['type']} schedule of "
                    rf"'kd' has {key}={schedule[key]}; it must be >= 0"):
                DistillLossWeightHook(schedules=dict(kd=schedule))
            # zero stays valid
            DistillLossWeightHook(schedules=dict(kd=dict(schedule, **{
                key: 0.0
            })))


class DistillHookTestCase(RunnerTestCase):

    def setUp(self):
        super().setUp()
        MODELS.register_module(name=NET, module=DistillHookToyNet)
        MODELS.register_module(name=SELF_NET, module=DistillHookSelfDistilNet)
        DATASETS.register_module(name=DATASET, module=DistillHookToyDataset)
        torch.manual_seed(1)
        self.teacher_ckpt = osp.join(self.temp_dir.name, 'teacher.pth')
        torch.save(DistillHookToyNet().state_dict(), self.teacher_ckpt)

        taps = dict(
            student=dict(feat='backbone'), teacher=dict(feat='backbone'))
        losses = dict(
            mse_feat=dict(type='MSEFeatureLoss', student='feat',
                          teacher='feat'))
        self.distill_model = dict(
            type='mmkd.DistillModel',
            student=dict(type=f'mmkd.{NET}'),
            teacher=dict(type=f'mmkd.{NET}'),
            teacher_ckpt=self.teacher_ckpt,
            taps=taps,
            losses=losses)
        self.mean_teacher_model = dict(
            type='mmkd.DistillModel',
            student=dict(type=f'mmkd.{NET}'),
            taps=taps,
            losses=losses)

    def tearDown(self):
        MODELS.module_dict.pop(NET, None)
        MODELS.module_dict.pop(SELF_NET, None)
        DATASETS.module_dict.pop(DATASET, None)
        super().tearDown()

    def _cfg(self, model, max_iters=4, custom_hooks=(), by_epoch=False):
        cfg = copy.deepcopy(
            self.epoch_based_cfg if by_epoch else self.iter_based_cfg)
        cfg.model = copy.deepcopy(model)
        cfg.train_dataloader.dataset = dict(type=f'mmkd.{DATASET}')
        cfg.train_dataloader.batch_size = 2
        cfg.train_dataloader.sampler.shuffle = False
        for key in ('val_dataloader', 'val_evaluator', 'val_cfg',
                    'test_dataloader', 'test_evaluator', 'test_cfg'):
            cfg[key] = None
        if by_epoch:
            cfg.train_cfg = dict(by_epoch=True, max_epochs=2)
        else:
            cfg.train_cfg = dict(by_epoch=False, max_iters=max_iters)
        cfg.custom_hooks = list(custom_hooks)
        return cfg

    def _runner(self, cfg):
        runner = self.build_runner(cfg)
        recorder = Recorder()
        runner.register_hook(recorder)
        return runner, recorder


class TestDistillLossWeightHook(DistillHookTestCase):

    def test_scales_follow_schedule(self):
        hook = dict(
            type='mmkd.DistillLossWeightHook',
            schedules=dict(mse_feat=dict(type='linear', end=6)))
        runner, recorder = self._runner(
            self._cfg(self.distill_model, 4, [hook]))
        runner.train()

        # the factor of the last iteration (iter 3): 3 / 6
        self.assertAlmostEqual(runner.model.distill_loss_scales['mse_feat'],
                               0.5)
        scales = runner.message_hub.get_scalar('train/distill.scale_mse_feat')
        self.assertEqual(scales.current(), 0.5)
        torch.testing.assert_close(
            torch.as_tensor(scales.data[0], dtype=torch.float64),
            torch.tensor([0., 1 / 6, 2 / 6, 3 / 6], dtype=torch.float64))
        # the factor multiplies the loss: 0 at iter 0, positive afterwards
        distill = [o['distill.loss_mse_feat'].item() for o in recorder.outputs]
        self.assertEqual(distill[0], 0.0)
        self.assertTrue(all(v > 0 for v in distill[1:]))

    def test_by_epoch(self):
        hook = dict(
            type='mmkd.DistillLossWeightHook',
            by_epoch=True,
            schedules=dict(
                mse_feat=dict(type='step', milestones=[1], gamma=0.25)))
        runner, _ = self._runner(
            self._cfg(self.distill_model, custom_hooks=[hook],
                      by_epoch=True))
        runner.train()
        scales = runner.message_hub.get_scalar('train/distill.scale_mse_feat')
        # 4 iterations per epoch: 1 in epoch 0, 0.25 in epoch 1
        self.assertEqual(list(scales.data[0]), [1.0] * 4 + [0.25] * 4)

    def test_unknown_loss_name(self):
        hook = dict(
            type='mmkd.DistillLossWeightHook',
            schedules=dict(mse_feats=dict(type='linear', end=6)))
        runner, recorder = self._runner(
            self._cfg(self.distill_model, 4, [hook]))
        with self.assertRaisesRegex(
                KeyError, r"loss 'mse_feats'.*did you mean 'mse_feat'"):
            runner.train()
        self.assertEqual(recorder.outputs, [])


class TestStopDistillHook(DistillHookTestCase):

    def _count_teacher_calls(self, runner):
        calls = []
        # a pre-hook: the teacher forward is cut short once its taps fired
        runner.model.teacher.register_forward_pre_hook(
            lambda module, args: calls.append(1))
        return calls

    def test_stop_iter(self):
        hook = dict(type='mmkd.StopDistillHook', stop_iter=2)
        runner, recorder = self._runner(
            self._cfg(self.distill_model, 4, [hook]))
        calls = self._count_teacher_calls(runner)
        runner.train()

        self.assertEqual(len(calls), 2)
        self.assertFalse(runner.model.distill_enabled)
        keys = [set(o) for o in recorder.outputs]
        self.assertEqual(len(keys), 4)
        for k in keys[:2]:
            self.assertIn('distill.loss_mse_feat', k)
        for k in keys[2:]:
            self.assertNotIn('distill.loss_mse_feat', k)
            self.assertIn('loss', k)

    def test_stop_epoch(self):
        hook = dict(type='mmkd.StopDistillHook', stop_epoch=1)
        runner, recorder = self._runner(
            self._cfg(self.distill_model, custom_hooks=[hook],
                      by_epoch=True))
        calls = self._count_teacher_calls(runner)
        runner.train()
        # 4 iterations per epoch, distilled in epoch 0 only
        self.assertEqual(len(calls), 4)
        self.assertEqual(
            ['distill.loss_mse_feat' in o for o in recorder.outputs],
            [True] * 4 + [False] * 4)

    def test_arguments(self):
        with self.assertRaisesRegex(
                ValueError, r'exactly one of stop_iter and stop_epoch, got '
                r'stop_iter=None, stop_epoch=None'):
            StopDistillHook()
        with self.assertRaisesRegex(
                ValueError, 'exactly one.*stop_iter=1, stop_epoch=2'):
            StopDistillHook(stop_iter=1, stop_epoch=2)
        with self.assertRaisesRegex(ValueError, 'non-negative int, got -1'):
            StopDistillHook(stop_iter=-1)
        with self.assertRaisesRegex(ValueError, 'non-negative int, got 1.5'):
            StopDistillHook(stop_epoch=1.5)
        self.assertEqual(StopDistillHook(stop_epoch=0).stop_epoch, 0)


class TestDistillControlsProtocol(DistillHookTestCase):
    """The hooks drive any model exposing distill_loss_scales and
    distill_enabled, not only DistillModel."""

    def test_schedule_and_stop_a_model_of_its_own(self):
        hooks = [
            dict(type='mmkd.DistillLossWeightHook',
                 schedules=dict(toy=dict(type='step', milestones=[1],
                                         gamma=0.5))),
            dict(type='mmkd.StopDistillHook', stop_iter=2)
        ]
        runner, recorder = self._runner(
            self._cfg(dict(type=f'mmkd.{SELF_NET}'), 3, hooks))
        runner.train()
        self.assertEqual(runner.model.scales_seen, [1.0, 0.5, 0.5])
        self.assertEqual(['loss_toy' in o for o in recorder.outputs],
                         [True, True, False])
        self.assertFalse(runner.model.distill_enabled)
        scales = runner.message_hub.get_scalar('train/distill.scale_toy')
        self.assertEqual(list(scales.data[0]), [1.0, 0.5, 0.5])

    def test_distill_hook_mode(self):
        """With a DistillHook the hooks control the hook's Distiller."""
        distill = dict(
            type='mmkd.DistillHook',
            teacher=dict(type=f'mmkd.{NET}'),
            teacher_ckpt=self.teacher_ckpt,
            taps=self.distill_model['taps'],
            losses=self.distill_model['losses'])
        hooks = [
            distill,
            dict(type='mmkd.DistillLossWeightHook',
                 schedules=dict(mse_feat=dict(type='linear', end=2))),
            dict(type='mmkd.StopDistillHook', stop_iter=2)
        ]
        runner, recorder = self._runner(
            self._cfg(dict(type=f'mmkd.{NET}'), 3, hooks))
        runner.train()
        distill = [o.get('distill.loss_mse_feat') for o in recorder.outputs]
        self.assertEqual(distill[0].item(), 0.0)  # factor 0 at iter 0
        self.assertGreater(distill[1].item(), 0.0)
        self.assertIsNone(distill[2])  # stopped at iter 2
        self.assertFalse(get_distiller(runner).enabled)

    def test_unknown_loss_of_a_model_of_its_own(self):
        hook = dict(type='mmkd.DistillLossWeightHook',
                    schedules=dict(toys=dict(type='linear', end=2)))
        runner, _ = self._runner(
            self._cfg(dict(type=f'mmkd.{SELF_NET}'), 1, [hook]))
        with self.assertRaisesRegex(KeyError,
                                    "loss 'toys'.*did you mean 'toy'"):
            runner.train()

    def test_model_without_the_protocol(self):
        for hook in (dict(type='mmkd.StopDistillHook', stop_iter=1),
                     dict(type='mmkd.DistillLossWeightHook',
                          schedules=dict(toy=dict(type='linear', end=2)))):
            runner, recorder = self._runner(
                self._cfg(dict(type=f'mmkd.{NET}'), 1, [hook]))
            with self.assertRaisesRegex(
                    RuntimeError, r'model \(DistillHookToyNet\) exposes no '
                    'distill_loss_scales / distill_enabled'):
                runner.train()
            self.assertEqual(recorder.outputs, [])


class TestMeanTeacherHook(DistillHookTestCase):

    def test_copy_then_momentum_update(self):
        momentum = 0.25
        hook = dict(type='mmkd.MeanTeacherHook', momentum=momentum)
        runner, recorder = self._runner(
            self._cfg(self.mean_teacher_model, 1, [hook]))
        model = runner.model
        self.assertFalse(model.teacher_synced)
        # make the deep copy stale so the copy in before_train is visible
        with torch.no_grad():
            model.teacher.backbone[0].weight.add_(1.0)

        runner.train()

        before = recorder.before_train_state
        self.assertTrue(before['synced'])
        assert_state_equal(before['teacher'], before['student'])
        teacher_prev = recorder.teacher_before_iter[0]
        student = recorder.student_after_iter[0]
        self.assertTrue(states_differ(teacher_prev, student))
        teacher = model.teacher.state_dict()
        for name in ('backbone.0.weight', 'head.bias'):
            expected = (1 - momentum) * teacher_prev[name] + \
                momentum * student[name]
            torch.testing.assert_close(teacher[name], expected)

        # the teacher stays out of the state dict and the optimizer
        self.assertFalse(
            any(k.startswith('teacher.') for k in model.state_dict()))
        optimized = {
            id(p)
            for group in runner.optim_wrapper.optimizer.param_groups
            for p in group['params']
        }
        for p in model.teacher.parameters():
            self.assertNotIn(id(p), optimized)
            self.assertFalse(p.requires_grad)

    def test_keep_rate(self):
        hook = dict(type='mmkd.MeanTeacherHook', keep_rate=0.9)
        runner, recorder = self._runner(
            self._cfg(self.mean_teacher_model, 1, [hook]))
        runner.train()
        name = 'backbone.0.weight'
        expected = 0.9 * recorder.teacher_before_iter[0][name] + \
            0.1 * recorder.student_after_iter[0][name]
        torch.testing.assert_close(runner.model.teacher.state_dict()[name],
                                   expected)

    def test_checkpoint_and_resume(self):
        hook = dict(type='mmkd.MeanTeacherHook', momentum=0.5)
        cfg = self._cfg(self.mean_teacher_model, 2, [hook])
        cfg.default_hooks.checkpoint.interval = 2
        runner, _ = self._runner(cfg)
        runner.train()
        ckpt_path = osp.join(self.temp_dir.name, 'iter_2.pth')
        ckpt = _load_checkpoint(ckpt_path, map_location='cpu')
        self.assertIn('mean_teacher', ckpt)
        assert_state_equal(ckpt['mean_teacher'],
                           runner.model.teacher.state_dict())
        self.assertFalse(
            any(k.startswith('teacher.') for k in ckpt['state_dict']))
        student = {
            k[len('student.'):]: v
            for k, v in ckpt['state_dict'].items() if k.startswith('student.')
        }
        self.assertTrue(states_differ(ckpt['mean_teacher'], student))

        cfg = self._cfg(self.mean_teacher_model, 3, [hook])
        cfg.resume = True
        cfg.load_from = ckpt_path
        runner, recorder = self._runner(cfg)
        runner.train()
        self.assertEqual(len(recorder.outputs), 1)
        # restored from the checkpoint, not re-copied from the student
        before = recorder.before_train_state
        assert_state_equal(before['teacher'], ckpt['mean_teacher'])
        assert_state_equal(before['student'], student)
        self.assertTrue(before['synced'])

    def test_checkpoint_of_a_registered_teacher(self):
        """The optimizer entries of a formerly registered teacher go."""

        class Model(nn.Module):

            def __init__(self):
                super().__init__()
                self.student = nn.Linear(2, 2)
                object.__setattr__(self, 'teacher', nn.Linear(2, 2))

        model = Model()
        state = {f'{side}.{name}': torch.zeros(1)
                 for side in ('student', 'teacher')
                 for name in ('weight', 'bias')}
        ckpt = dict(
            state_dict=state,
            optimizer=dict(
                state={0: 'w', 1: 'b', 2: 'tw'},
                param_groups=[dict(lr=0.1, params=[0, 1, 2, 3])]))
        drop_registered_teacher(ckpt, model)
        self.assertEqual(ckpt['optimizer'],
                         dict(state={0: 'w', 1: 'b'},
                              param_groups=[dict(lr=0.1, params=[0, 1])]))
        # one group per parameter (paramwise_cfg): teacher groups go
        ckpt['optimizer']['param_groups'] = [
            dict(params=[i]) for i in range(4)]
        drop_registered_teacher(ckpt, model)
        self.assertEqual(ckpt['optimizer']['param_groups'],
                         [dict(params=[0]), dict(params=[1])])
        ckpt['optimizer']['param_groups'] = [dict(params=[0, 1, 2])]
        with self.assertRaisesRegex(
                ValueError, 'optimizer of 3 parameters, but its state dict '
                'has 4 parameters'):
            drop_registered_teacher(ckpt, model)

    def test_arguments(self):
        with self.assertRaisesRegex(
                ValueError, r'not both \(momentum=0.1, keep_rate=0.9\)'):
            MeanTeacherHook(momentum=0.1, keep_rate=0.9)
        for kwargs, bad in [(dict(momentum=0.), '0.0'),
                            (dict(momentum=1.), '1.0'),
                            (dict(momentum=-0.5), '-0.5'),
                            (dict(keep_rate=1.), '0.0'),
                            (dict(keep_rate=1.5), '-0.5')]:
            with self.assertRaisesRegex(ValueError,
                                        rf'in \(0, 1\).*momentum={bad}'):
                MeanTeacherHook(**kwargs)
        with self.assertRaisesRegex(ValueError, 'positive int, got 0'):
            MeanTeacherHook(interval=0)
        self.assertAlmostEqual(MeanTeacherHook().momentum, 0.001)
        self.assertAlmostEqual(
            MeanTeacherHook(keep_rate=0.9996).momentum, 0.0004)

    def test_teacher_none_needs_hook(self):
        runner, recorder = self._runner(
            self._cfg(self.mean_teacher_model, 1))
        with self.assertRaisesRegex(RuntimeError, 'MeanTeacherHook'):
            runner.train()
        self.assertEqual(recorder.outputs, [])

    def test_model_without_teacher(self):
        cfg = self._cfg(dict(type=f'mmkd.{NET}'), 1,
                        [dict(type='mmkd.MeanTeacherHook')])
        runner = self.build_runner(cfg)
        with self.assertRaisesRegex(AttributeError,
                                    'needs a model with `student`'):
            runner.train()



class DistillHookViewDataset(DistillHookToyDataset):
    """Each sample with a second view for the teacher: its negative."""

    def __getitem__(self, index):
        item = super().__getitem__(index)
        return dict(item, teacher_inputs=-item['inputs'])


class TestDistillHookTeacherView(DistillHookTestCase):

    def test_teacher_reads_the_view_and_the_model_never_does(self):
        DATASETS.register_module(
            name='DistillHookViewDataset', module=DistillHookViewDataset,
            force=True)
        hook = dict(
            type='mmkd.DistillHook',
            teacher=dict(type=f'mmkd.{NET}'),
            teacher_ckpt=self.teacher_ckpt,
            taps=dict(student=dict(feat='backbone'),
                      teacher=dict(feat='backbone')),
            losses=dict(mse_feat=dict(type='MSEFeatureLoss', student='feat',
                                      teacher='feat')),
            teacher_view=True)
        cfg = self._cfg(dict(type=f'mmkd.{NET}'), 2, [hook])
        cfg.train_dataloader.dataset = dict(
            type='mmkd.DistillHookViewDataset')
        runner = self.build_runner(cfg)
        seen = dict(teacher=[], student=[])

        class Watch(Hook):
            priority = 'LOWEST'

            def before_train(self, runner):
                distiller = next(h for h in runner.hooks
                                 if type(h).__name__ == 'DistillHook').distiller
                for side in seen:
                    getattr(distiller, side).backbone.register_forward_hook(
                        lambda m, args, out, side=side: seen[side].append(
                            args[0]))

        runner.register_hook(Watch())
        runner.train()
        data = DistillHookToyDataset.data
        torch.testing.assert_close(seen['teacher'][0], -data[:2])
        torch.testing.assert_close(seen['student'][0], data[:2])
        DATASETS.module_dict.pop('DistillHookViewDataset')
