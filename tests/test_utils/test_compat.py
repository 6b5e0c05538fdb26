# Copyright (c) mmkd contributors. All rights reserved.
import pickle

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.evaluator import BaseMetric
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import CheckpointLoader, Runner

import mmkd  # noqa: F401  (installs the allow-list)
from mmkd.utils.compat import (MMENGINE_CHECKPOINT_GLOBALS,
                               _history_buffer_getattr, load_weights_only)

# torch's own weights_only loading with mmkd's globals added (torch>=2.4),
# and the allow-list unpickler mmkd uses on torch<2.4 (run here on the
# pinned torch: the same checks must hold on both)
LOADERS = dict(
    torch=lambda path: load_weights_only(path, legacy=False),
    legacy=lambda path: load_weights_only(path, legacy=True))
loaders = pytest.mark.parametrize('load', list(LOADERS.values()),
                                  ids=list(LOADERS))

# what a checkpoint written by MMEngine 0.10.7's Runner refers to, as listed
# by torch.serialization.get_unsafe_globals_in_checkpoint, under numpy>=2 and
# (the numpy.core names) numpy<2
EXPECTED_GLOBALS = {
    'mmengine.logging.history_buffer.HistoryBuffer',
    'builtins.getattr',  # HistoryBuffer's statistics methods, guarded
    'numpy.ndarray',
    'numpy.dtype',  # guarded: float32, float64, int64 only
    'numpy._core.multiarray._reconstruct',
    'numpy._core.multiarray.scalar',
    'numpy.core.multiarray._reconstruct',
    'numpy.core.multiarray.scalar',
    # the classes of those dtypes, whose byte order unpickling sets
    'numpy.dtypes.Float32DType',
    'numpy.dtypes.Float64DType',
    'numpy.dtypes.Int64DType',
}


def global_name(obj):
    if isinstance(obj, tuple):
        return obj[1]
    return f'{obj.__module__}.{obj.__qualname__}'


class _Linear(BaseModel):

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.fc(torch.stack(inputs))
        if mode == 'loss':
            return dict(loss=out.pow(2).mean())
        return [dict(pred=o) for o in out]


class _Float32Metric(BaseMetric):
    """Returns a numpy float32, as mmseg's IoUMetric does."""

    def process(self, data_batch, data_samples):
        self.results.append(1)

    def compute_metrics(self, results):
        return dict(score=np.float32(0.5))


def runner_checkpoint(work_dir):
    """Train 2 iterations with validation and ``save_best``; return the
    checkpoint the Runner wrote."""
    data = [dict(inputs=torch.ones(2)) for _ in range(4)]
    loader = dict(batch_size=2, dataset=data, collate_fn=dict(
        type='pseudo_collate'), sampler=dict(type='DefaultSampler',
                                             shuffle=False))
    runner = Runner(
        model=_Linear(),
        work_dir=work_dir,
        train_dataloader=loader,
        val_dataloader=loader,
        val_evaluator=[_Float32Metric()],
        train_cfg=dict(by_epoch=False, max_iters=2, val_interval=2),
        val_cfg=dict(),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        default_hooks=dict(checkpoint=dict(
            type='CheckpointHook', interval=2, by_epoch=False,
            save_best='score', rule='greater')),
        randomness=dict(seed=0),
        default_scope='mmengine')
    runner.train()
    return f'{work_dir}/iter_2.pth'


def test_allow_list_is_exactly_what_mmengine_needs():
    names = [global_name(obj) for obj in MMENGINE_CHECKPOINT_GLOBALS]
    assert len(names) == len(set(names))
    assert set(names) == EXPECTED_GLOBALS
    installed = {
        global_name(obj)
        for obj in torch.serialization.get_safe_globals()
    }
    assert EXPECTED_GLOBALS <= installed


def globals_in_checkpoint(path):
    """The globals ``path`` refers to beyond torch's own allow-list."""
    added = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        return set(
            torch.serialization.get_unsafe_globals_in_checkpoint(path))
    finally:
        torch.serialization.add_safe_globals(added)


def numpy_dtypes(obj):
    """Names of the dtypes of all numpy arrays and scalars in ``obj``."""
    if isinstance(obj, (np.ndarray, np.generic)):
        return {obj.dtype.name}
    if isinstance(obj, HistoryBuffer):
        obj = obj.data
    if isinstance(obj, dict):
        obj = list(obj.values())
    if isinstance(obj, (list, tuple)):
        return set().union(*map(numpy_dtypes, obj))
    return set()


def test_runner_checkpoint_loads_with_weights_only(tmp_path):
    path = runner_checkpoint(str(tmp_path))
    # the globals a real checkpoint refers to: the allow-list less the
    # numpy<2 aliases and the dtype classes, which pickles never name
    assert globals_in_checkpoint(path) == {
        name
        for name in EXPECTED_GLOBALS
        if 'numpy.core.' not in name and 'numpy.dtypes.' not in name
    }
    for ckpt in (torch.load(path, weights_only=True),
                 CheckpointLoader.load_checkpoint(path, map_location='cpu')):
        assert ckpt['meta']['iter'] == 2
        assert ckpt['message_hub']['runtime_info']['best_score'] == 0.5
        buffer = ckpt['message_hub']['log_scalars']['train/loss']
        assert buffer.current() >= 0
        assert set(ckpt['state_dict']) == {'fc.weight', 'fc.bias'}
        # the dtypes the classes on the allow-list are there for
        assert numpy_dtypes(ckpt) == {'float32', 'float64', 'int64'}


@loaders
def test_numpy1_checkpoint_names_load(tmp_path, load):
    """numpy<2 pickles arrays as ``numpy.core.multiarray._reconstruct``."""
    path = str(tmp_path / 'numpy1.pth')
    torch.save(dict(a=np.arange(3), s=np.float32(2)), path,
               _use_new_zipfile_serialization=False)
    with open(path, 'rb') as f:
        data = f.read()
    # the legacy format is a plain pickle; GLOBAL names are text lines
    assert b'numpy._core.multiarray\n' in data
    with open(path, 'wb') as f:
        f.write(data.replace(b'numpy._core.multiarray\n',
                             b'numpy.core.multiarray\n'))
    ckpt = load(path)
    assert ckpt['a'].tolist() == [0, 1, 2] and ckpt['s'] == 2


@pytest.mark.parametrize('obj', [
    np.dtype('O'),
    np.array([1, 'x'], dtype=object),
    np.array([1, 2], dtype=np.uint8),
],
                         ids=['object-dtype', 'object-array', 'uint8-array'])
@loaders
def test_other_numpy_dtypes_are_refused(tmp_path, obj, load):
    path = str(tmp_path / 'obj.pth')
    torch.save(dict(x=obj), path)
    with pytest.raises(pickle.UnpicklingError,
                       match="numpy dtype '(object|uint8)'; only float32, "
                       'float64, int64 are allowed'):
        load(path)


class _Reaches:
    """Pickles as ``getattr(HistoryBuffer, <name>)``."""

    def __init__(self, obj, name):
        self.obj, self.name = obj, name

    def __reduce__(self):
        return (getattr, (self.obj, self.name))


@loaders
def test_other_getattr_is_refused(tmp_path, load):
    path = str(tmp_path / 'evil.pth')
    torch.save(dict(x=_Reaches(HistoryBuffer, '__init__')), path)
    with pytest.raises(pickle.UnpicklingError,
                       match="getattr.*'__init__'.*only the statistics"):
        load(path)
    torch.save(dict(x=_Reaches(np.ndarray, 'min')), path)
    with pytest.raises(pickle.UnpicklingError):
        load(path)


@loaders
def test_weights_only_still_on_for_unknown_types(tmp_path, load):
    path = str(tmp_path / 'obj.pth')
    torch.save(dict(x=_Reaches), path)  # a class not on the allow-list
    with pytest.raises(pickle.UnpicklingError, match='GLOBAL .*_Reaches'):
        load(path)


class _Writes:
    """Pickles as ``open(<path>, 'w')``: code a checkpoint must not run."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, 'w'))


@pytest.mark.parametrize('zipfile', [True, False],
                         ids=['zip', 'legacy-format'])
def test_torch_before_2_4_loads_runner_checkpoints_only(
        tmp_path, monkeypatch, zipfile):
    """torch<2.4 has no add_safe_globals, and its weights_only unpickler
    refuses MMEngine's checkpoints: mmkd's loads apply the allow-list
    themselves there, in both of torch's file formats."""
    from mmkd.utils.checkpoint import load_checkpoint
    from mmkd.utils.resume import checkpoint_error
    path = runner_checkpoint(str(tmp_path))
    if not zipfile:
        torch.save(torch.load(path, weights_only=True), path,
                   _use_new_zipfile_serialization=False)
    monkeypatch.delattr(torch.serialization, 'add_safe_globals')
    ckpt = load_checkpoint(path, key='teacher_ckpt')
    assert ckpt['message_hub']['runtime_info']['best_score'] == 0.5
    assert ckpt['message_hub']['log_scalars']['train/loss'].current() >= 0
    assert isinstance(ckpt['state_dict']['fc.weight'], torch.Tensor)
    assert checkpoint_error(path) is None

    marker = tmp_path / 'ran'
    evil = str(tmp_path / 'evil.pth')
    torch.save(dict(state_dict={}, x=_Writes(str(marker))), evil,
               _use_new_zipfile_serialization=zipfile)
    with pytest.raises(pickle.UnpicklingError,
                       match=r"teacher_ckpt '.*evil.pth' holds "
                       r'io\.open, a global outside the allow-list'):
        load_checkpoint(evil, key='teacher_ckpt')
    assert not marker.exists()
    assert 'io.open' in checkpoint_error(evil)


def test_guarded_getattr_allows_statistics_only():
    assert _history_buffer_getattr(HistoryBuffer, 'mean') is \
        HistoryBuffer.mean
    with pytest.raises(pickle.UnpicklingError):
        _history_buffer_getattr(HistoryBuffer, '__class__')
