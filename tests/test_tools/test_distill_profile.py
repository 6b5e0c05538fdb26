# Copyright (c) mmkd contributors. All rights reserved.
import importlib.util
import json
import os.path as osp

import pytest
import torch

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
