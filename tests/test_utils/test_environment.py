# Copyright (c) mmkd contributors. All rights reserved.
"""The installed environment is the locked one, the scripts run mmkd's
interpreter, and the pieces of the stack users switch on (TensorBoard) are
installed."""
import glob
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import Runner

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools'))
import check_env  # noqa: E402

LOCK_OFF = os.environ.get('MMKD_LOCK') == 'none'


@pytest.mark.skipif(LOCK_OFF, reason='MMKD_LOCK=none: refreshing the lock')
def test_installed_environment_matches_lock():
    # in CI the environment holds nothing but the lock; a developer's may
    # hold more, which is reported by `python tools/check_env.py --strict`
    found = check_env.problems(strict=bool(os.environ.get('CI')))
    assert not found, 'the environment is not the locked one:\n' + \
        '\n'.join(found) + '\nrun `bash tools/install.sh`'


def _requirement_names(path):
    names = []
    with open(path) as f:
        for line in f:
            line = line.split('#')[0].strip()
            if line:
                name = line.split(';')[0]
                for sep in '<>=!~[':
                    name = name.split(sep)[0]
                names.append(check_env.canonical(name.strip()))
    return names


def test_lock_pins_every_requirement_exactly():
    pins = check_env.read_lock()
    for req in ('runtime.txt', 'tests.txt', 'no_deps.txt'):
        for name in _requirement_names(osp.join(ROOT, 'requirements', req)):
            assert name in pins, f'{name} ({req}) is not in the lock'
    assert pins['torch'] == '2.13.0' and pins['mmcv'] == '2.1.0'
    assert check_env.lock_python() == '3.11'


def test_drift_is_named():
    pins = {'pytest': '8.3.4', 'torch': '2.13.0', 'absent': '1.0'}
    have = {'pytest': '9.2.0', 'torch': '2.13.0+cpu', 'extra-pkg': '0.1',
            'pip': '23.2'}
    assert check_env.lock_problems(pins, have) == [
        'absent is not installed (1.0 is locked)',
        'pytest 9.2.0 is installed, 8.3.4 is locked'
    ]
    # a torch chosen with MMKD_TORCH_SPEC replaces the lock's
    assert check_env.lock_problems({'torch': '2.13.0'}, have,
                                   'torch==2.1.2') == [
        'torch 2.13.0+cpu is installed, 2.1.2 is locked']
    assert check_env.extra_distributions(pins, have) == [
        'extra-pkg 0.1 is installed but not in the lock']


def test_vendored_dist_infos_are_not_installed_distributions():
    # importing pkg_resources puts setuptools' _vendor folder on sys.path;
    # its bundled jaraco.* metadata is no installed distribution
    import pkg_resources  # noqa: F401
    assert any(p.endswith('_vendor') for p in sys.path)
    assert 'jaraco-functools' not in check_env.installed()
    assert check_env.installed()['torch'].startswith('2.13.0')


def test_lock_lines_are_checked(tmp_path):
    bad = tmp_path / 'constraints.txt'
    bad.write_text('# python 3.11\nnumpy>=2\n')
    with pytest.raises(ValueError, match=r'constraints.txt:2: expected '
                       r"name==version, got 'numpy>=2'"):
        check_env.read_lock(str(bad))
    assert check_env.canonical('Typing_Extensions') == 'typing-extensions'


def _python_of(env_overrides):
    env = {k: v for k, v in os.environ.items()
           if k not in ('PYTHON', 'VIRTUAL_ENV')}
    env.update(env_overrides)
    out = subprocess.run(
        ['bash', '-c', 'source tools/python_env.sh; echo "$PYTHON"'],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_scripts_choose_mmkd_interpreter():
    assert _python_of({}) == osp.join(ROOT, '.venv', 'bin', 'python')
    assert _python_of({'VIRTUAL_ENV': '/opt/venv'}) == '/opt/venv/bin/python'
    assert _python_of({'PYTHON': '/usr/bin/python3.11',
                       'VIRTUAL_ENV': '/opt/venv'}) == '/usr/bin/python3.11'


def test_dist_scripts_run_that_interpreter(tmp_path):
    # a stand-in interpreter records how it was called
    record = tmp_path / 'called'
    fake = tmp_path / 'python'
    fake.write_text(f'#!/bin/sh\necho "$@" > {record}\n')
    fake.chmod(0o755)
    env = dict(os.environ, PYTHON=str(fake))
    for script, args in (('dist_train.sh', ['cfg.py', '2']),
                         ('dist_test.sh', ['cfg.py', 'ckpt.pth', '2'])):
        subprocess.run(['bash', f'tools/{script}', *args],
                       cwd=ROOT, env=env, check=True)
        called = record.read_text()
        assert called.startswith('-m torch.distributed.run'), called
        assert '--nproc_per_node=2' in called
    missing = dict(os.environ, PYTHON='', VIRTUAL_ENV=str(tmp_path / 'no'))
    proc = subprocess.run(['bash', 'tools/dist_train.sh', 'cfg.py', '2'],
                          cwd=ROOT, env=missing, capture_output=True,
                          text=True)
    assert proc.returncode == 1
    assert f'no Python at {tmp_path}/no/bin/python' in proc.stderr


class _Linear(BaseModel):

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        loss = (self.fc(inputs) - 1).pow(2).mean()
        return dict(loss=loss) if mode == 'loss' else [loss]


def test_tensorboard_backend_writes_events(tmp_path):
    runner = Runner(
        model=_Linear(),
        work_dir=str(tmp_path),
        train_dataloader=dict(
            dataset=[dict(inputs=torch.ones(2))] * 4,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate'),
            batch_size=2),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=False, max_iters=2),
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1)),
        # a name of its own: visualizers are global instances by name
        visualizer=dict(
            type='Visualizer',
            name='tensorboard_events_test',
            vis_backends=[dict(type='TensorboardVisBackend')]),
        log_level='WARNING',
        default_scope='mmengine')
    runner.train()
    events = glob.glob(
        osp.join(str(tmp_path), '**', 'events.out.tfevents.*'),
        recursive=True)
    assert events and all(osp.getsize(e) > 0 for e in events)
