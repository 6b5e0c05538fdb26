# Copyright (c) mmkd contributors. All rights reserved.
"""tools/cache_teacher.py in-process on 32-pixel DigitScenes: what it
refuses to overwrite, an interrupted rebuild, and caches that went stale."""
import importlib.util
import os
import os.path as osp
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import mmkd  # noqa: F401
from mmkd.models.distillers import Distiller
from mmkd.models.distillers.teacher import build_model
from mmkd.models.distillers.teacher_cache import TeacherCache

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
CONFIG = osp.join(
    ROOT, 'configs', 'cwd',
    'cwd_logits_fcn-r18w32_fcn-r18w8_2k_digit-scenes-128x128_'
    'teacher-cache.py')
TINY = dict(num_train=4, num_val=1, img_size=32, seed=0)
RESIZE = dict(type='Resize', scale=(24, 24), keep_ratio=True)


def _load_tool(name):
    spec = importlib.util.spec_from_file_location(
        name, osp.join(ROOT, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module', autouse=True)
def fast_config_text():
    """The Runner formats its config with yapf three times (10 s on this
    config); the tests read configs written as JSON, never that text."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Config, 'pretty_text',
                      property(lambda self: repr(self.to_dict())))
        yield


@pytest.fixture(scope='module')
def tiny(tmp_path_factory, fast_config_text):
    """The cached CWD config on four 32-pixel canvases, batch size 1."""
    tmp = tmp_path_factory.mktemp('cache_teacher')
    cfg = Config.fromfile(CONFIG)
    teacher = build_model(cfg.model.teacher, 'teacher')
    ckpt = str(tmp / 'teacher.pth')
    torch.save({'state_dict': teacher.state_dict()}, ckpt)
    cfg.model.teacher_ckpt = ckpt
    cfg.model.pop('teacher_cache')
    for key in ('data_preprocessor', 'model.student.data_preprocessor',
                'model.teacher.data_preprocessor'):
        cfg.merge_from_dict({f'{key}.size': (32, 32)})
    dataset = cfg.train_dataloader.dataset
    dataset.data_root = str(tmp / 'digit_scenes')
    dataset.auto_generate = True
    dataset.generate_cfg = dict(dataset.get('generate_cfg', {}), **TINY)
    cfg.train_dataloader.batch_size = 1
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    cfg.work_dir = str(tmp / 'work_dir')
    cfg.log_level = 'WARNING'
    config = str(tmp / 'tiny.json')
    cfg.dump(config)
    return tmp, config


def _build(config, out):
    return _load_tool('cache_teacher').main([config, '--out', out])


def test_out_folder_that_is_not_a_cache_survives(tiny, tmp_path):
    _, config = tiny
    out = tmp_path / 'results'
    out.mkdir()
    (out / 'scores.csv').write_text('precious')
    (out / 'entries').mkdir()  # as a v1 cache named its entry folder
    with pytest.raises(ValueError, match='not an mmkd teacher cache') as info:
        _build(config, str(out))
    assert str(out) in str(info.value) and 'scores.csv' in str(info.value)
    assert (out / 'scores.csv').read_text() == 'precious'
    assert (out / 'entries').is_dir()


def test_interrupted_rebuild_leaves_the_old_cache(tiny, monkeypatch):
    tmp, config = tiny
    out = str(tmp / 'cache_interrupted')
    old = _build(config, out)
    assert len(old) == 4
    forward = Distiller.teacher_forward
    calls = []

    def failing(self, *args, **kwargs):
        calls.append(1)
        if len(calls) > 2:
            raise RuntimeError('killed mid-way')
        # another teacher's outputs, had the build completed
        feats = forward(self, *args, **kwargs)
        return {k: v + 1 for k, v in feats.items()}

    monkeypatch.setattr(Distiller, 'teacher_forward', failing)
    with pytest.raises(RuntimeError, match='killed mid-way'):
        _build(config, out)
    assert len(calls) == 3
    monkeypatch.undo()

    cache = TeacherCache.load(out, old.fingerprint, verify='hash')
    assert cache.index == old.index
    # only the old build's files remain
    assert sorted(os.listdir(out)) == [old.entry_dir, 'meta.json']
    assert len(os.listdir(osp.join(out, old.entry_dir))) == 4


def test_stale_caches_are_refused(tiny, monkeypatch):
    tmp, config = tiny
    out = str(tmp / 'cache_stale')
    built = _build(config, out)
    cfg = Config.fromfile(config)
    cfg.model.teacher_cache = out
    cfg.work_dir = str(tmp / 'stale_run')

    # a Resize added after caching: tools/train.py names it before training
    pipeline = cfg.train_dataloader.dataset.pipeline
    resized = Config(cfg.to_dict())
    resized.train_dataloader.dataset.pipeline = (
        pipeline[:2] + [RESIZE] + pipeline[2:])
    resized_config = str(tmp / 'resized.json')
    resized.dump(resized_config)
    monkeypatch.setattr(sys, 'argv', ['train.py', resized_config])
    with pytest.raises(ValueError, match='adds Resize') as info:
        _load_tool('train').main()
    assert out in str(info.value)
    assert not osp.exists(str(tmp / 'stale_run'))
    # and Runner.from_cfg (no tools/train.py) when the samples are read
    runner = Runner.from_cfg(resized)
    batch = next(iter(runner.build_dataloader(resized.train_dataloader)))
    data = runner.model.data_preprocessor(batch, True)
    with pytest.raises(ValueError, match='scale_factor'):
        runner.model(**data, mode='loss')

    # the dataset regenerated: same file names, other canvases
    img = built.index[next(iter(built.index))]['inputs']['img_path'][0]
    with open(img, 'ab') as f:
        f.write(b'\0')
    with pytest.raises(ValueError, match='changed since the cache') as info:
        Runner.from_cfg(cfg)
    assert img in str(info.value)
