# Copyright (c) mmkd contributors. All rights reserved.
import importlib.util
import json
import os.path as osp

import pytest
import torch
from mmengine.model import BaseModel

import mmkd  # noqa: F401
from mmkd.models.distillers.teacher import build_model

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
TOOL = osp.join(ROOT, 'tools', 'analysis_tools', 'distill_profile.py')
CONFIG = osp.join(
    ROOT, 'configs', 'cwd',
    'cwd_logits_fcn-r18w32_fcn-r18w8_2k_digit-scenes-128x128.py')
TEACHER = osp.join(ROOT, 'configs', 'digit_scenes',
                   'fcn_r18-w32_2k_digit-scenes-128x128.py')
TINY = dict(num_train=4, num_val=1, img_size=32, seed=0)


def _load_tool():
    spec = importlib.util.spec_from_file_location('distill_profile', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def result(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('distill_profile')
    teacher = build_model(dict(cfg_path=TEACHER), 'teacher')
    ckpt = str(tmp / 'teacher.pth')
    torch.save({'state_dict': teacher.state_dict()}, ckpt)

    data_root = str(tmp / 'digit_scenes')
    # 32 px canvases, not padded to 128, keep the steps fast
    options = [
        f'model.teacher_ckpt={ckpt}', 'train_dataloader.batch_size=2',
        'data_preprocessor.size=(32,32)',
        'model.student.data_preprocessor.size=(32,32)',
        'model.teacher.data_preprocessor.size=(32,32)'
    ]
    for loader in ('train', 'val', 'test'):
        key = f'{loader}_dataloader.dataset'
        options.append(f'{key}.data_root={data_root}')
        options += [f'{key}.generate_cfg.{k}={v}' for k, v in TINY.items()]
        options.append(f'{key}.auto_generate=True')  # not the default root
    out = str(tmp / 'profile.json')
    returned = _load_tool().main([
        CONFIG, '--iters', '2', '--warmup', '1', '--work-dir',
        str(tmp / 'work_dir'), '--out', out, '--cfg-options', *options
    ])
    with open(out) as f:
        written = json.load(f)
    return returned, written


def test_json_has_every_phase(result):
    returned, written = result
    tool = _load_tool()
    assert list(written['phases']) == list(tool.PHASES)
    for name, stats in written['phases'].items():
        assert len(stats['times_ms']) == 2, name
        assert all(t > 0 for t in stats['times_ms']), name
        assert stats['median_ms'] > 0, name
        assert stats['p90_ms'] >= stats['median_ms'] - 1e-9, name
        assert stats['peak_mem_mib'] >= 0, name
    assert written['batch_size'] == 2
    assert written['device'] == 'cpu'
    assert written['torch_threads'] >= 1
    assert written['memory']['kind'] in tool.PeakMemory.DESCRIPTIONS
    assert written['config'] == CONFIG
    assert written['phases'] == json.loads(json.dumps(returned['phases']))


def test_ratio_from_medians(result):
    _, written = result
    phases = written['phases']
    expected = phases['distill_step']['median_ms'] / (
        phases['student_step']['median_ms'] +
        phases['teacher_inference']['median_ms'])
    assert written['overhead_ratio'] == pytest.approx(expected, rel=1e-9)
    assert written['ratio_definition'] == \
        'distill_step / (student_step + teacher_inference)'
    # the derived phase is the sum of its parts, iteration by iteration
    for both, fwd, bwd in zip(phases['student_fwd_bwd']['times_ms'],
                              phases['student_forward']['times_ms'],
                              phases['backward']['times_ms']):
        assert both == pytest.approx(fwd + bwd, rel=1e-6)


def test_paired_ratios_and_cpu_times(result):
    _, written = result
    tool = _load_tool()
    phases = written['phases']
    per_batch = [
        d / (s + t) for d, s, t in zip(
            phases['distill_step']['times_ms'],
            phases['student_step']['times_ms'],
            phases['teacher_inference']['times_ms'])
    ]
    paired = written['paired_ratio']
    assert paired['per_batch'] == pytest.approx(per_batch, rel=1e-9)
    assert paired['q1'] <= paired['median'] <= paired['q3']
    assert paired['iqr'] == pytest.approx(paired['q3'] - paired['q1'])
    assert len(written['paired_ratio_cpu']['per_batch']) == 2
    for name, stats in phases.items():
        assert len(stats['cpu_ms']) == 2, name
        assert all(t >= 0 for t in stats['cpu_ms']), name
    # warm-up batch + 2 measured, each variant once per batch, rotating
    a, b, c = tool.VARIANTS
    assert written['variant_order'] == [[a, b, c], [b, c, a], [c, a, b]]
    assert written['model_kind'] == 'DistillModel'


class ProfileToyDataset(torch.utils.data.Dataset):
    """Six samples: three batches of two, a finite epoch."""

    def __len__(self):
        return 6

    def __getitem__(self, index):
        return dict(inputs=torch.full((3, ), float(index)),
                    data_samples=torch.tensor(index))


class ProfileToyNet(BaseModel):
    """A model of its own exposing DistillControls, like LPLDDetector:
    records what runs, on which samples and from which weights."""

    events = []

    def __init__(self, data_preprocessor=None, init_cfg=None):
        super().__init__(data_preprocessor, init_cfg)
        self.student = torch.nn.Linear(3, 1)
        object.__setattr__(self, 'teacher', torch.nn.Linear(3, 1))
        self.distill_loss_scales = dict(toy=1.0)
        self.distill_enabled = True

    def forward(self, inputs, data_samples=None, mode='tensor'):
        inputs = torch.stack(inputs)
        out = self.student(inputs)
        if mode != 'loss':
            return out
        weights = float(self.student.weight.sum())
        kind = 'distill' if self.distill_enabled else 'student'
        self.events.append((kind, [int(s) for s in data_samples], weights))
        losses = dict(loss=out.pow(2).mean())
        if self.distill_enabled:
            losses['loss_toy'] = (out - self.teacher(inputs)).pow(2).mean()
        return losses

    def teacher_forward(self, inputs, data_samples):
        self.events.append(('teacher', [int(s) for s in data_samples], None))
        with torch.no_grad():
            return self.teacher(torch.stack(inputs))


class ProfileNoTeacherNet(ProfileToyNet):
    teacher_forward = None


@pytest.fixture
def toy_cfg(tmp_path):
    from mmengine.config import Config

    from mmkd.registry import DATASETS, MODELS
    MODELS.register_module('ProfileToyNet', module=ProfileToyNet)
    MODELS.register_module('ProfileNoTeacherNet', module=ProfileNoTeacherNet)
    MODELS.register_module('ProfilePlainNet', module=PlainNet)
    DATASETS.register_module('ProfileToyDataset', module=ProfileToyDataset)
    ProfileToyNet.events = []
    yield Config(
        dict(
            default_scope='mmkd',
            model=dict(type='ProfileToyNet'),
            train_dataloader=dict(
                batch_size=2,
                num_workers=0,
                sampler=dict(type='DefaultSampler', shuffle=False),
                dataset=dict(type='ProfileToyDataset')),
            optim_wrapper=dict(
                optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
            train_cfg=dict(by_epoch=False, max_iters=10),
            work_dir=str(tmp_path),
            log_level='WARNING'))
    for name in ('ProfileToyNet', 'ProfileNoTeacherNet', 'ProfilePlainNet'):
        MODELS.module_dict.pop(name)
    DATASETS.module_dict.pop('ProfileToyDataset')


class PlainNet(ProfileToyNet):
    """No DistillControls."""

    def __init__(self, data_preprocessor=None, init_cfg=None):
        super().__init__(data_preprocessor, init_cfg)
        del self.distill_enabled


def test_model_of_its_own_interleaved_on_a_finite_dataset(toy_cfg):
    tool = _load_tool()
    result = tool.profile(toy_cfg, iters=4, warmup=1)
    # five batches from a three-batch epoch: the loader starts again
    batches = [[0, 1], [2, 3], [4, 5], [0, 1], [2, 3]]
    rotation = [['distill', 'student', 'teacher'],
                ['student', 'teacher', 'distill'],
                ['teacher', 'distill', 'student']]
    events = ProfileToyNet.events
    assert len(events) == 15
    for i, batch in enumerate(batches):
        step = events[3 * i:3 * i + 3]
        assert [e[0] for e in step] == rotation[i % 3], i
        assert all(e[1] == batch for e in step), i
    # every training step starts from the same weights
    weights = {e[2] for e in events if e[0] != 'teacher'}
    assert len(weights) == 1
    assert result['variant_order'] == [
        [tool.VARIANTS[(i + k) % 3] for k in range(3)] for i in range(5)]

    assert list(result['phases']) == list(tool.OWN_MODEL_PHASES)
    assert result['ratio_definition'] == 'distill_step / student_step'
    assert result['model_kind'] == 'ProfileToyNet, a model of its own'
    assert 'distill_enabled=False' in result['compared']
    phases = result['phases']
    per_batch = [
        d / s for d, s in zip(phases['distill_step']['times_ms'],
                              phases['student_step']['times_ms'])
    ]
    assert result['paired_ratio']['per_batch'] == pytest.approx(per_batch)
    assert len(per_batch) == 4
    table = tool.format_table(result)
    assert 'distill_step / student_step, per batch, wall: median' in table
    assert 'interleaved per batch in rotating order' in table


def test_model_without_teacher_forward_or_protocol(toy_cfg):
    tool = _load_tool()
    toy_cfg.model.type = 'ProfileNoTeacherNet'
    result = tool.profile(toy_cfg, iters=1, warmup=0)
    assert list(result['phases']) == ['data', 'distill_step', 'student_step']
    assert result['variant_order'] == [['distill_step', 'student_step']]
    assert 'no teacher_forward' in result['compared']

    toy_cfg.model.type = 'ProfilePlainNet'
    with pytest.raises(TypeError, match='exposing distill_loss_scales / '
                       'distill_enabled .* got model type PlainNet'):
        tool.profile(toy_cfg, iters=1, warmup=0)


def test_train_first_profiles_the_weights_after_k_steps(toy_cfg):
    """--train-first K: K real steps (distillation on) before the snapshot
    that every measured step restores, so the profile sees the numerics of
    trained weights, not only those of the first step."""
    tool = _load_tool()
    result = tool.profile(toy_cfg, iters=1, warmup=0, train_first=2)
    events = ProfileToyNet.events
    trained, measured = events[:2], events[2:]
    assert [e[0] for e in trained] == ['distill', 'distill']
    assert [e[1] for e in trained] == [[0, 1], [2, 3]]
    assert trained[0][2] != trained[1][2]  # the first step updated them
    # every measured step starts from the weights after both steps: the
    # same for all, and not those either trained step started from
    weights = {e[2] for e in measured if e[0] != 'teacher'}
    assert len(weights) == 1
    assert weights.isdisjoint({trained[0][2], trained[1][2]})
    assert all(e[1] == [4, 5] for e in measured)  # the loader goes on
    assert result['train_first'] == 2
    with pytest.raises(SystemExit):
        tool.parse_args([CONFIG, '--train-first', '-1'])
