# Copyright (c) mmkd contributors. All rights reserved.
import json
import os
import os.path as osp

import pytest
import torch
from mmengine.structures import BaseDataElement

from mmkd.models.distillers.teacher_cache import (TeacherCache,
                                                  check_cache_pipeline,
                                                  check_cache_target, decode,
                                                  encode, sample_key)
from mmkd.utils.record_cache import RecordCache, RecordCacheWriter


def _sample(path, flip=False):
    return BaseDataElement(
        metainfo=dict(img_path=path, flip=flip,
                      flip_direction='horizontal' if flip else None))


def test_plain_entry_is_float16_and_round_trips():
    value = torch.randn(5, 4, 6)
    entry = encode(value)
    assert entry.dtype == torch.float16
    torch.testing.assert_close(decode(entry), value, rtol=1e-3, atol=1e-3)
    # a full top-k or pool 1 is not compression: stored as is
    assert isinstance(encode(value, topk=5, pool=1), torch.Tensor)


def test_topk_keeps_largest_channels_and_mean_of_rest():
    value = torch.tensor([[[4.]], [[1.]], [[3.]], [[-2.]]])  # C=4, 1x1
    entry = encode(value, topk=2)
    assert entry['top'].shape == (2, 1, 1)
    assert entry['index'].dtype == torch.int16
    out = decode(entry)
    # channels 0 and 2 exact; 1 and 3 replaced by their mean (1 - 2) / 2
    torch.testing.assert_close(
        out, torch.tensor([[[4.]], [[-0.5]], [[3.]], [[-0.5]]]))
    # the per-position sum of logits is kept
    torch.testing.assert_close(out.sum(0), value.sum(0))


def test_pool_averages_and_upsamples_back():
    value = torch.arange(16.).view(1, 4, 4)
    entry = encode(value, pool=2)
    torch.testing.assert_close(entry['map'].float(),
                               torch.tensor([[[2.5, 4.5], [10.5, 12.5]]]))
    out = decode(entry)
    assert out.shape == (1, 4, 4)
    # bilinear upsampling of a linear ramp recovers its interior exactly
    torch.testing.assert_close(out[0, 1:3, 1:3], value[0, 1:3, 1:3])
    # odd sizes: ceil mode, decoded back to the original size
    assert decode(encode(torch.randn(3, 5, 7), pool=2)).shape == (3, 5, 7)


def test_pool_and_topk_together_and_tuples():
    levels = (torch.randn(8, 6, 6), torch.randn(8, 3, 3))
    entry = encode(levels, topk=3, pool=3)
    out = decode(entry)
    assert isinstance(out, tuple)
    assert [o.shape for o in out] == [(8, 6, 6), (8, 3, 3)]
    # the stored size: 3 of 8 channels at 1/9 of the positions
    assert entry[0]['top'].shape == (3, 2, 2)
    # vectors (not maps) are stored as they are
    assert isinstance(encode(torch.randn(10), topk=2), torch.Tensor)


def test_cache_writes_one_file_per_sample_and_reloads(tmp_path):
    root = str(tmp_path / 'cache')
    cache = TeacherCache('abc', root, topk=2)
    logits = torch.randn(2, 4, 3, 3)
    samples = [_sample('/d/img/a.png'), _sample('/d/img/b.png', flip=True)]
    cache.add(dict(logits=logits), samples)
    cache.save()
    assert len(cache) == 2
    with open(osp.join(root, 'meta.json')) as f:
        meta = json.load(f)
    assert len(list((tmp_path / 'cache' / meta['entry_dir']).iterdir())) == 2
    assert meta['topk'] == 2 and meta['entries'] == 2
    # 2 samples x (top + index + rest) = 2 x (2*9*2 + 2*9*2 + 9*2) bytes
    assert meta['nbytes'] == cache.nbytes() == 2 * (36 + 36 + 18)

    loaded = TeacherCache.load(root, 'abc')
    out = loaded.lookup(samples[::-1], 'cpu')['logits']
    assert out.shape == (2, 4, 3, 3) and out.dtype == torch.float32
    expected = decode(encode(logits[0], topk=2))
    torch.testing.assert_close(out[1], expected)

    with pytest.raises(KeyError, match=r"no entry 'img/a.png\|flip=True"):
        loaded.lookup([_sample('/d/img/a.png', flip=True)], 'cpu')
    with pytest.raises(ValueError, match='built for another teacher'):
        TeacherCache.load(root, 'other')
    with pytest.raises(FileNotFoundError, match='has no meta.json'):
        TeacherCache.load(str(tmp_path), 'abc')


def test_sample_key_names_parent_folder_and_flip():
    assert sample_key(_sample('/x/train/7.png', True)) == (
        'train/7.png|flip=True|horizontal')
    with pytest.raises(KeyError, match='img_path or lidar_path'):
        sample_key(BaseDataElement(metainfo=dict(flip=False)))


def _build(root, fingerprint, samples, value, pipeline=None, save=True):
    cache = TeacherCache(fingerprint, root, pipeline=pipeline)
    cache.add(dict(logits=value), samples)
    if save:
        cache.save()
    return cache


def _entry_file(root, key):
    with open(osp.join(root, 'meta.json')) as f:
        meta = json.load(f)
    return osp.join(root, meta['entry_dir'], meta['index'][key]['file'])


@pytest.fixture
def images(tmp_path):
    """Two input files that exist, as a dataset's images do."""
    paths = []
    for name in ('a.png', 'b.png'):
        path = tmp_path / 'img' / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b'pixels of ' + name.encode())
        paths.append(str(path))
    return paths


def test_interrupted_rebuild_keeps_the_old_cache(tmp_path):
    root = str(tmp_path / 'cache')
    samples = [_sample('/d/img/a.png'), _sample('/d/img/b.png')]
    old = torch.randn(2, 3, 2, 2)
    _build(root, 'old', samples, old)
    # a rebuild for another teacher dies after writing its entries but
    # before its metadata: the old cache is still complete and its own
    _build(root, 'new', samples, old + 5, save=False)
    loaded = TeacherCache.load(root, 'old')
    torch.testing.assert_close(
        loaded.lookup(samples, 'cpu')['logits'], old, rtol=1e-3, atol=1e-3)
    with pytest.raises(ValueError, match='built for another teacher'):
        TeacherCache.load(root, 'new')
    # the next complete build replaces it and removes the stale entries
    _build(root, 'new', samples, old + 5)
    loaded = TeacherCache.load(root, 'new')
    torch.testing.assert_close(
        loaded.lookup(samples, 'cpu')['logits'], old + 5, rtol=1e-3, atol=1e-2)
    assert sorted(p.name for p in (tmp_path / 'cache').iterdir()) == [
        loaded.entry_dir, 'meta.json'
    ]


@pytest.mark.parametrize('damage', ['truncate', 'delete'])
def test_damaged_entry_is_named_when_the_cache_opens(tmp_path, damage):
    root = str(tmp_path / 'cache')
    samples = [_sample('/d/img/a.png'), _sample('/d/img/b.png')]
    _build(root, 'abc', samples, torch.randn(2, 3, 2, 2))
    path = _entry_file(root, 'img/b.png|flip=False|None')
    if damage == 'truncate':
        with open(path, 'r+b') as f:
            f.truncate(os.path.getsize(path) - 10)
        error, match = ValueError, 'truncated or rewritten'
    else:
        os.remove(path)
        error, match = FileNotFoundError, 'is missing'
    with pytest.raises(error, match=match) as info:
        TeacherCache.load(root, 'abc')
    assert path in str(info.value)
    assert "'img/b.png|flip=False|None'" in str(info.value)
    assert 'tools/cache_teacher.py' in str(info.value)


def test_hash_verification_finds_rewritten_bytes(tmp_path):
    root = str(tmp_path / 'cache')
    samples = [_sample('/d/img/a.png')]
    _build(root, 'abc', samples, torch.randn(1, 3, 2, 2))
    path = _entry_file(root, 'img/a.png|flip=False|None')
    with open(path, 'r+b') as f:
        data = bytearray(f.read())
        data[-20] ^= 0xFF  # same size, other bytes
        f.seek(0)
        f.write(data)
    TeacherCache.load(root, 'abc')  # sizes only: cheap, and still equal
    with pytest.raises(ValueError, match='hash differs') as info:
        TeacherCache.load(root, 'abc', verify='hash')
    assert path in str(info.value)
    with pytest.raises(ValueError, match="verify must be 'size' or 'hash'"):
        TeacherCache.load(root, 'abc', verify='all')


def test_entry_count_must_match_the_metadata(tmp_path):
    root = str(tmp_path / 'cache')
    _build(root, 'abc', [_sample('/d/img/a.png')], torch.randn(1, 3))
    meta_file = osp.join(root, 'meta.json')
    with open(meta_file) as f:
        meta = json.load(f)
    meta['entries'] = 5
    with open(meta_file, 'w') as f:
        json.dump(meta, f)
    with pytest.raises(ValueError, match='5 entries.*index lists 1'):
        TeacherCache.load(root, 'abc')


def test_cache_of_an_older_format_is_refused(tmp_path):
    root = tmp_path / 'cache'
    root.mkdir()
    (root / 'meta.json').write_text(
        json.dumps(
            dict(
                fingerprint='abc',
                topk=None,
                pool=None,
                entries=0,
                nbytes=0,
                index={})))
    with pytest.raises(ValueError, match='older format.*rebuild'):
        TeacherCache.load(str(root), 'abc')


def test_regenerated_input_file_is_refused_at_open(tmp_path, images):
    root = str(tmp_path / 'cache')
    samples = [_sample(p) for p in images]
    _build(root, 'abc', samples, torch.randn(2, 3))
    TeacherCache.load(root, 'abc')
    # the dataset regenerated: same file name, other bytes
    with open(images[1], 'wb') as f:
        f.write(b'other pixels, other size')
    with pytest.raises(
            ValueError, match='changed since the cache was built') as info:
        TeacherCache.load(root, 'abc')
    assert images[1] in str(info.value)
    assert "'img/b.png|flip=False|None'" in str(info.value)


def test_regenerated_input_file_is_refused_at_lookup(tmp_path, images):
    """A moved dataset is checked through the samples' own paths."""
    root = str(tmp_path / 'cache')
    _build(root, 'abc', [_sample(p) for p in images], torch.randn(2, 3))
    moved = tmp_path / 'moved' / 'img'
    moved.mkdir(parents=True)
    for path in images:
        os.replace(path, moved / osp.basename(path))
    cache = TeacherCache.load(root, 'abc')  # recorded paths are gone
    samples = [_sample(str(moved / osp.basename(p))) for p in images]
    cache.lookup(samples, 'cpu')  # same files, moved: accepted
    (moved / 'a.png').write_bytes(b'regenerated')
    cache = TeacherCache.load(root, 'abc')
    with pytest.raises(
            ValueError, match='changed since the cache was built') as info:
        cache.lookup(samples, 'cpu')
    assert str(moved / 'a.png') in str(info.value)


def test_resize_after_caching_is_refused_at_lookup(tmp_path, images):
    """Without the pipeline (a DistillModel built by Runner.from_cfg), a
    resize shows in the samples' scale_factor."""
    root = str(tmp_path / 'cache')
    _build(root, 'abc', [_sample(images[0])], torch.randn(1, 3))
    cache = TeacherCache.load(root, 'abc')
    resized = _sample(images[0])
    resized.set_metainfo(dict(scale_factor=(0.5, 0.5)))
    with pytest.raises(ValueError, match='scale_factor') as info:
        cache.lookup([resized], 'cpu')
    assert 'tools/cache_teacher.py' in str(info.value)


PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]


def test_pipeline_is_recorded_and_compared(tmp_path):
    root = str(tmp_path / 'cache')
    _build(
        root,
        'abc', [_sample('/d/img/a.png')],
        torch.randn(1, 3),
        pipeline=PIPELINE)
    TeacherCache.load(root, 'abc', pipeline=PIPELINE)
    # the flip probability does not change an entry: flips are keyed
    flip_prob = [PIPELINE[0], dict(type='RandomFlip', prob=0.9), PIPELINE[2]]
    TeacherCache.load(root, 'abc', pipeline=flip_prob)
    check_cache_pipeline(root, flip_prob)

    resized = PIPELINE[:2] + [dict(type='Resize', scale=(64, 64))
                              ] + [PIPELINE[2]]
    with pytest.raises(ValueError, match='adds Resize') as info:
        TeacherCache.load(root, 'abc', pipeline=resized)
    assert root in str(info.value)
    assert 'tools/cache_teacher.py' in str(info.value)
    with pytest.raises(ValueError, match='adds Resize'):
        check_cache_pipeline(root, resized)
    with pytest.raises(ValueError, match='drops RandomFlip'):
        check_cache_pipeline(root, [PIPELINE[0], PIPELINE[2]])

    root2 = str(tmp_path / 'cache2')
    _build(
        root2,
        'abc', [_sample('/d/img/a.png')],
        torch.randn(1, 3),
        pipeline=resized)
    other_scale = resized[:2] + [dict(type='Resize', scale=(32, 32))
                                 ] + [PIPELINE[2]]
    with pytest.raises(
            ValueError, match=r'Resize \(transform 2\) differs: scale='):
        check_cache_pipeline(root2, other_scale)


def test_entries_are_loaded_weights_only(tmp_path, monkeypatch):
    root = str(tmp_path / 'cache')
    samples = [_sample('/d/img/a.png')]
    _build(root, 'abc', samples, torch.randn(1, 3))
    cache = TeacherCache.load(root, 'abc')
    calls = []
    load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get('weights_only'))
        return load(*args, **kwargs)

    monkeypatch.setattr(torch, 'load', spy)
    cache.lookup(samples, 'cpu')
    assert calls == [True]


def test_out_folder_that_is_not_a_cache_is_refused(tmp_path):
    out = tmp_path / 'results'
    out.mkdir()
    (out / 'notes.txt').write_text('keep me')
    with pytest.raises(ValueError, match='not an mmkd teacher cache') as info:
        check_cache_target(str(out))
    assert str(out) in str(info.value) and 'notes.txt' in str(info.value)
    assert (out / 'notes.txt').read_text() == 'keep me'
    # an entry folder of other files is not a cache's
    data = tmp_path / 'data'
    (data / 'entries').mkdir(parents=True)
    (data / 'entries' / 'scan.bin').write_bytes(b'1')
    with pytest.raises(ValueError, match=r'holds entries\)'):
        check_cache_target(str(data))
    # what an interrupted first build leaves: fine
    _build(str(tmp_path / 'partial'), 'abc', [_sample('/d/img/a.png')],
           torch.randn(1, 3), save=False)
    check_cache_target(str(tmp_path / 'partial'))
    # new, empty, or a cache: fine
    check_cache_target(str(tmp_path / 'new'))
    (tmp_path / 'empty').mkdir()
    check_cache_target(str(tmp_path / 'empty'))
    _build(
        str(tmp_path / 'cache'), 'abc', [_sample('/d/img/a.png')],
        torch.randn(1, 3))
    check_cache_target(str(tmp_path / 'cache'))
    # a rebuild replaces the cache's own files only
    (tmp_path / 'cache' / 'notes.txt').write_text('keep me')
    _build(str(tmp_path / 'cache'), 'abc', [_sample('/d/img/a.png')],
           torch.randn(1, 3))
    assert (tmp_path / 'cache' / 'notes.txt').read_text() == 'keep me'
    assert len(list((tmp_path / 'cache').glob('entries-*'))) == 1
    (tmp_path / 'file').write_text('')
    with pytest.raises(ValueError, match='not a folder'):
        check_cache_target(str(tmp_path / 'file'))


def test_tap_and_record_caches_are_told_apart(tmp_path):
    root = str(tmp_path / 'records')
    with RecordCacheWriter(root, dict(
            scores=dict(dtype='float32', shape=()))) as writer:
        writer.add('img/a.png', dict(scores=torch.zeros(2)))
    with pytest.raises(ValueError, match='is a records cache'):
        TeacherCache.load(root, 'abc')
    with pytest.raises(ValueError, match='not an mmkd teacher cache'):
        check_cache_target(root)
    taps = str(tmp_path / 'taps')
    cache = TeacherCache('abc', taps)
    cache.add(dict(logits=torch.zeros(1, 2)), [
        BaseDataElement(metainfo=dict(img_path='/d/img/a.png'))])
    cache.save()
    with pytest.raises(ValueError, match='is not a record cache'):
        RecordCache(taps)
    with pytest.raises(ValueError, match='not an mmkd record cache'):
        RecordCacheWriter(taps, dict(s=dict(dtype='int64')))
