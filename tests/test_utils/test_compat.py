# Copyright (c) mmkd contributors. All rights reserved.
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner import CheckpointLoader

import mmkd  # noqa: F401  (installs the allow-list)
from mmkd.utils.compat import _history_buffer_getattr


def mmengine_like_checkpoint():
    buffer = HistoryBuffer()
    buffer.update(0.5)
    return dict(
        meta=dict(
            seed=np.int64(7),
            lr=np.float32(0.01),
            dataset_meta=dict(palette=np.array([[1, 2, 3]], np.uint8))),
        message_hub=dict(log_scalars={'train/loss': buffer}),
        state_dict=dict(w=torch.ones(2)))


def test_mmengine_checkpoint_loads_with_weights_only(tmp_path):
    path = str(tmp_path / 'ckpt.pth')
    torch.save(mmengine_like_checkpoint(), path)
    for ckpt in (torch.load(path, weights_only=True),
                 CheckpointLoader.load_checkpoint(path, map_location='cpu')):
        assert ckpt['meta']['seed'] == 7
        assert ckpt['meta']['dataset_meta']['palette'].dtype == np.uint8
        buffer = ckpt['message_hub']['log_scalars']['train/loss']
        assert buffer.current() == 0.5 and buffer.mean() == 0.5
        assert torch.equal(ckpt['state_dict']['w'], torch.ones(2))


class _Reaches:
    """Pickles as ``getattr(HistoryBuffer, <name>)``."""

    def __init__(self, obj, name):
        self.obj, self.name = obj, name

    def __reduce__(self):
        return (getattr, (self.obj, self.name))


def test_other_getattr_is_refused(tmp_path):
    path = str(tmp_path / 'evil.pth')
    torch.save(dict(x=_Reaches(HistoryBuffer, '__init__')), path)
    with pytest.raises(pickle.UnpicklingError,
                       match="getattr.*'__init__'.*only the statistics"):
        torch.load(path, weights_only=True)
    torch.save(dict(x=_Reaches(np.ndarray, 'min')), path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)


def test_weights_only_still_on_for_unknown_types(tmp_path):
    path = str(tmp_path / 'obj.pth')
    torch.save(dict(x=_Reaches), path)  # a class not on the allow-list
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)


def test_guarded_getattr_allows_statistics_only():
    assert _history_buffer_getattr(HistoryBuffer, 'mean') is \
        HistoryBuffer.mean
    with pytest.raises(pickle.UnpicklingError):
        _history_buffer_getattr(HistoryBuffer, '__class__')
