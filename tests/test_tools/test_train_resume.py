# Copyright (c) mmkd contributors. All rights reserved.
"""``tools/train.py --resume`` with a truncated checkpoint, on the tiny
dropout model of ``training_toys`` (run in this process: a subprocess
would spend most of the test importing the stack)."""
import os.path as osp
import runpy
import sys
import uuid

import pytest
import torch
from mmengine.testing import RunnerTestCase

import training_toys
from training_toys import distill_model, runner_cfg, save_teacher

import mmkd.utils.resume as resume_module
from mmkd.utils import resolve_resume_checkpoint

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.fixture
def toys():
    case = RunnerTestCase()
    case.setUp()  # MMEngine's toy metric and configs, cleaned up below
    training_toys.register()
    yield case
    training_toys.unregister()
    case.tearDown()


def write_config(toys, tmp_path):
    teacher = save_teacher(str(tmp_path / 'teacher.pth'))
    cfg = runner_cfg(toys.epoch_based_cfg, distill_model(teacher), None)
    cfg.env_cfg = dict(dist_cfg=dict(backend='gloo'))
    cfg.pop('work_dir')
    cfg.pop('experiment_name')
    path = str(tmp_path / 'toy.py')
    cfg.dump(path)
    return path


def train(config, work_dir, *args):
    argv = sys.argv
    sys.argv = [
        'tools/train.py', config, '--work-dir', work_dir, *args,
        '--cfg-options', f'experiment_name={uuid.uuid4().hex}'
    ]
    try:
        runpy.run_path(osp.join(ROOT, 'tools', 'train.py'),
                       run_name='__main__')
    finally:
        sys.argv = argv


def truncate(path):
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])


def weights(path):
    return torch.load(path)['state_dict']


def test_resume_falls_back_from_a_truncated_checkpoint(toys, tmp_path):
    config = write_config(toys, tmp_path)
    straight = str(tmp_path / 'straight')
    train(config, straight, '--cfg-options', 'train_cfg.max_epochs=3')

    # killed while saving epoch 2: its checkpoint is truncated
    work_dir = str(tmp_path / 'killed')
    train(config, work_dir)
    truncate(osp.join(work_dir, 'epoch_2.pth'))
    train(config, work_dir, '--resume', '--cfg-options',
          'train_cfg.max_epochs=3')

    # resumed from epoch 1; with the random states restored by the default
    # RandomStatesHook, the dropout run ends where the straight one does
    a = weights(osp.join(straight, 'epoch_3.pth'))
    b = weights(osp.join(work_dir, 'epoch_3.pth'))
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert 'random_states' in torch.load(osp.join(work_dir, 'epoch_3.pth'))


def make_work_dir(tmp_path, epochs):
    """A work dir with valid ``epoch_<n>.pth`` files and last_checkpoint
    naming the newest, as MMEngine leaves it."""
    work_dir = tmp_path / 'work'
    work_dir.mkdir()
    for epoch in epochs:
        torch.save(dict(state_dict=dict(w=torch.ones(2)), meta={}),
                   work_dir / f'epoch_{epoch}.pth')
    (work_dir / 'last_checkpoint').write_text(
        str(work_dir / f'epoch_{epochs[-1]}.pth'))
    return str(work_dir)


def test_latest_truncated_falls_back_with_a_warning(tmp_path, monkeypatch):
    work_dir = make_work_dir(tmp_path, [1, 2, 3])
    # left by an earlier, longer run in this work dir: never a fallback
    torch.save({}, osp.join(work_dir, 'epoch_9.pth'))
    truncate(osp.join(work_dir, 'epoch_3.pth'))
    logged = []
    monkeypatch.setattr(resume_module, 'print_log',
                        lambda msg, **kwargs: logged.append(msg))
    assert resolve_resume_checkpoint(work_dir) == osp.join(
        work_dir, 'epoch_2.pth')
    assert len(logged) == 1
    assert 'epoch_3.pth cannot be loaded' in logged[0]
    assert 'resuming from' in logged[0] and 'epoch_2.pth' in logged[0]
    assert resolve_resume_checkpoint(str(tmp_path / 'empty')) is None


def test_no_loadable_checkpoint_fails_naming_it(tmp_path):
    work_dir = make_work_dir(tmp_path, [1])
    truncate(osp.join(work_dir, 'epoch_1.pth'))
    with pytest.raises(RuntimeError,
                       match=r'epoch_1\.pth cannot be loaded .*no earlier '
                       'checkpoint'):
        resolve_resume_checkpoint(work_dir)


def test_named_checkpoint_is_not_replaced(tmp_path):
    work_dir = make_work_dir(tmp_path, [1, 2])
    chosen = osp.join(work_dir, 'epoch_2.pth')
    truncate(chosen)
    with pytest.raises(RuntimeError,
                       match=f'--resume {chosen}: this checkpoint cannot '
                       'be loaded'):
        resolve_resume_checkpoint(work_dir, chosen)
    with pytest.raises(FileNotFoundError, match='--resume nowhere.pth'):
        resolve_resume_checkpoint(work_dir, 'nowhere.pth')
    good = osp.join(work_dir, 'epoch_1.pth')
    assert resolve_resume_checkpoint(work_dir, good) == good
