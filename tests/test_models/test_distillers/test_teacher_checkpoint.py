# Copyright (c) mmkd contributors. All rights reserved.
"""Teacher checkpoints load with ``weights_only=True``, local or URL, and
unloadable files are reported with the ``teacher_ckpt`` they came from."""
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
import torch.nn as nn
from local_http import serve_directory
from mmengine.runner import CheckpointLoader, load_checkpoint

from mmkd.models.distillers import load_teacher_checkpoint


class _CreatesFile:
    """Pickles as ``open(path, 'w')``: full unpickling creates ``path``."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, 'w'))


@pytest.fixture
def hub_dir(tmp_path, monkeypatch):
    """Downloads go to a fresh torch hub cache, not the user's."""
    monkeypatch.setattr(torch.hub, '_hub_dir', str(tmp_path / 'hub'))
    return tmp_path / 'hub'


@pytest.fixture
def served(tmp_path):
    """Files in ``tmp_path/www`` served on 127.0.0.1."""
    root = tmp_path / 'www'
    root.mkdir()
    with serve_directory(str(root)) as url:
        yield root, url


def teacher_files(root, marker):
    model = nn.Linear(2, 3)
    torch.save(dict(state_dict=model.state_dict(), meta={}),
               str(root / 'good.pth'))
    torch.save(
        dict(state_dict=model.state_dict(), meta=_CreatesFile(marker)),
        str(root / 'evil.pth'))
    return model


def test_url_teacher_is_not_unpickled(served, hub_dir, tmp_path,
                                      monkeypatch):
    root, url = served
    marker = str(tmp_path / 'code_ran')
    teacher_files(root, marker)
    with pytest.raises(
            pickle.UnpicklingError,
            match=r"(?s)teacher_ckpt '.*/evil\.pth'.*holds io\.open.*"
            'outside the allow-list'):
        load_teacher_checkpoint(nn.Linear(2, 3), f'{url}/evil.pth')
    assert not osp.exists(marker)
    # the same refusal as for the local file, explicitly: also where torch
    # would default to weights_only=False (simulated by its env variable)
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    with pytest.raises(pickle.UnpicklingError, match=r'holds io\.open'):
        load_teacher_checkpoint(nn.Linear(2, 3), str(root / 'evil.pth'))
    assert not osp.exists(marker)


def test_url_teacher_loads_state_dict(served, hub_dir):
    root, url = served
    model = teacher_files(root, 'unused')
    teacher = nn.Linear(2, 3)
    load_teacher_checkpoint(teacher, f'{url}/good.pth')
    assert torch.equal(teacher.weight, model.weight)
    # downloaded into torch's hub cache, as mmengine's loader did
    assert osp.isfile(hub_dir / 'checkpoints' / 'good.pth')


def test_mmengine_url_loading_is_safe_too(served, hub_dir, tmp_path):
    """``import mmkd`` makes MMEngine's own URL loading (``load_from``,
    ``init_cfg=dict(type='Pretrained')``) use ``weights_only=True``."""
    root, url = served
    marker = str(tmp_path / 'code_ran')
    model = teacher_files(root, marker)
    with pytest.raises(pickle.UnpicklingError, match=r'holds io\.open'):
        CheckpointLoader.load_checkpoint(f'{url}/evil.pth')
    with pytest.raises(pickle.UnpicklingError, match=r'holds io\.open'):
        load_checkpoint(nn.Linear(2, 3), f'{url}/evil.pth')
    assert not osp.exists(marker)
    other = nn.Linear(2, 3)
    load_checkpoint(other, f'{url}/good.pth')
    assert torch.equal(other.weight, model.weight)


def test_truncated_and_garbage_teacher_ckpt(tmp_path):
    good = str(tmp_path / 'good.pth')
    torch.save(dict(state_dict=nn.Linear(2, 3).state_dict()), good)
    with open(good, 'rb') as f:
        data = f.read()
    truncated = str(tmp_path / 'truncated.pth')
    with open(truncated, 'wb') as f:
        f.write(data[:len(data) // 2])
    garbage = str(tmp_path / 'garbage.pth')
    with open(garbage, 'wb') as f:
        f.write(b'not a checkpoint\n' * 8)
    for path in (truncated, garbage):
        with pytest.raises(pickle.UnpicklingError) as info:
            load_teacher_checkpoint(nn.Linear(2, 3), path)
        message = str(info.value)
        assert f'teacher_ckpt {path!r}' in message
        assert 'truncated or corrupt' in message
        # torch's own advice would be to turn the protection off
        assert 'weights_only' not in message.replace(
            'weights_only=True', '')
        assert 'False' not in message


def test_type_refused_by_an_allow_list_guard(tmp_path):
    path = str(tmp_path / 'uint8_meta.pth')
    torch.save(dict(state_dict=nn.Linear(2, 3).state_dict(),
                    meta=dict(palette=np.zeros(3, np.uint8))), path)
    with pytest.raises(
            pickle.UnpicklingError,
            match=rf"teacher_ckpt '{path}' asks for something outside the "
            r"allow-list .*numpy dtype 'uint8'"):
        load_teacher_checkpoint(nn.Linear(2, 3), path)
