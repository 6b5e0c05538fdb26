# Copyright (c) mmkd contributors. All rights reserved.
"""The record cache: a variable number of records per sample under a
declared schema, keyed by a stable sample key, with extra input files in
its fingerprint; what it refuses and how it names it."""
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.structures import BaseDataElement

from mmkd.utils.record_cache import (RecordCache, RecordCacheWriter, map_boxes,
                                     normalize_schema, record_key)

SCHEMA = dict(
    boxes=dict(dtype='float32', shape=(4, ), box='xyxy'),
    embeddings=dict(dtype=torch.float16, shape=(8, )),
    scores=dict(dtype='float32', shape=()),
    labels=dict(dtype='int64', shape=()))


def _records(n, seed=0):
    gen = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=gen) * 20
    wh = torch.rand(n, 2, generator=gen) * 10
    return dict(
        boxes=torch.cat([xy, xy + wh], 1),
        embeddings=torch.randn(n, 8, generator=gen),  # float32: cast
        scores=torch.rand(n, generator=gen),
        labels=torch.randint(0, 5, (n, ), generator=gen))


def _write(root, entries, fingerprint='clip-a', extra_inputs=None):
    with RecordCacheWriter(root, SCHEMA, fingerprint, extra_inputs) as w:
        for key, records in entries.items():
            w.add(key, records)


def test_records_of_any_count_round_trip(tmp_path):
    root = str(tmp_path / 'cache')
    entries = {
        'img/a.png': _records(3, 0),
        'img/b.png': _records(0, 1),
        'seq/7.png': _records(300, 2)
    }
    _write(root, entries)
    cache = RecordCache(root, schema=SCHEMA, fingerprint='clip-a')
    assert len(cache) == 3 and cache.records == 303
    for key, records in entries.items():
        out = cache.get(key)
        assert out['embeddings'].dtype == torch.float16
        assert out['labels'].dtype == torch.int64
        torch.testing.assert_close(out['boxes'], records['boxes'])
        torch.testing.assert_close(
            out['embeddings'].float(),
            records['embeddings'],
            atol=1e-2,
            rtol=1e-3)
        torch.testing.assert_close(out['labels'], records['labels'])
    assert cache.get('img/b.png')['boxes'].shape == (0, 4)
    assert cache.get('img/b.png')['embeddings'].shape == (0, 8)
    # another sample's entry by its key, in the order asked, some fields
    out = cache.lookup(['seq/7.png', 'img/a.png'], fields=['scores'])
    assert [list(o) for o in out] == [['scores'], ['scores']]
    assert [len(o['scores']) for o in out] == [300, 3]
    torch.testing.assert_close(out[0]['scores'],
                               entries['seq/7.png']['scores'])
    with open(osp.join(root, 'meta.json')) as f:
        meta = json.load(f)
    assert meta['schema']['boxes'] == dict(
        dtype='float32', shape=[4], box='xyxy')
    assert meta['schema']['embeddings']['dtype'] == 'float16'


def test_missing_key_names_the_key_and_the_cache(tmp_path):
    root = str(tmp_path / 'cache')
    _write(root, {'img/a.png': _records(2)})
    cache = RecordCache(root)
    with pytest.raises(KeyError, match="no entry 'img/prev.png'") as info:
        cache.get('img/prev.png')
    assert root in str(info.value) and "'img/a.png'" in str(info.value)
    with pytest.raises(KeyError, match=r"no field\(s\) \['feats'\]"):
        cache.get('img/a.png', fields=['feats'])


@pytest.mark.parametrize('change, error, match', [
    (lambda r: r.pop('scores'), ValueError, r"missing \['scores'\]"),
    (lambda r: r.update(extra=torch.zeros(3)), ValueError,
     r"unexpected \['extra'\]"),
    (lambda r: r.update(boxes=torch.zeros(3, 5)), ValueError,
     r"field 'boxes': shape \(3, 5\), the schema declares \('N', 4\)"),
    (lambda r: r.update(scores=torch.zeros(2)), ValueError,
     'different record counts.*scores 2'),
    (lambda r: r.update(labels=torch.zeros(3)), TypeError,
     "field 'labels': dtype torch.float32, the schema declares torch.int64"),
    (lambda r: r.update(embeddings=torch.full((3, 8), 1e6)), ValueError,
     "field 'embeddings': values do not fit torch.float16"),
    (lambda r: r['boxes'].__setitem__(
        (1, 2), -1.), ValueError, "field 'boxes': box 1 is .* x2 >= x1"),
    (lambda r: r.update(scores=[0.1, 0.2, 0.3]), TypeError,
     "field 'scores': expected a tensor or an array, got list"),
])
def test_bad_records_are_named(tmp_path, change, error, match):
    records = _records(3)
    change(records)
    writer = RecordCacheWriter(str(tmp_path / 'cache'), SCHEMA)
    with pytest.raises(error, match=match) as info:
        writer.add('img/a.png', records)
    assert "record 'img/a.png'" in str(info.value)
    writer.discard()


def test_arrays_are_accepted_and_a_key_is_added_once(tmp_path):
    writer = RecordCacheWriter(str(tmp_path / 'cache'), SCHEMA)
    writer.add('img/a.png', {k: v.numpy() for k, v in _records(2).items()})
    with pytest.raises(ValueError, match="key 'img/a.png' was added twice"):
        writer.add('img/a.png', _records(2))
    writer.close()
    assert RecordCache(str(
        tmp_path / 'cache')).get('img/a.png')['labels'].dtype == torch.int64


@pytest.mark.parametrize('schema, match', [
    (dict(boxes=dict(dtype='float32', shape=(5, ), box='xyxy')),
     r"box field 'boxes' must be floating with shape \(4,\)"),
    (dict(boxes=dict(dtype='float32', shape=(4, ), box='cxcywh')),
     "box kind 'cxcywh'"),
    (dict(x=dict(dtype='complex64')), "field 'x' has dtype 'complex64'"),
    ({
        'a-b': dict(dtype='float32')
    }, 'identifiers'),
    (dict(x=dict(dtype='float32', size=3)), r"unknown keys \['size'\]"),
])
def test_bad_schema_is_named(schema, match):
    with pytest.raises(ValueError, match=match):
        normalize_schema(schema)


def test_other_schema_or_fingerprint_is_refused_at_open(tmp_path):
    root = str(tmp_path / 'cache')
    _write(root, {'img/a.png': _records(2)})
    other = dict(SCHEMA, embeddings=dict(dtype='float32', shape=(8, )))
    with pytest.raises(ValueError, match='another schema') as info:
        RecordCache(root, schema=other)
    message = str(info.value)
    assert root in message and "field 'embeddings'" in message
    assert "is float16 ('N', 8)" in message
    assert "expected float32 ('N', 8)" in message
    fewer = {k: v for k, v in SCHEMA.items() if k != 'scores'}
    with pytest.raises(ValueError, match=r"unexpected \['scores'\]"):
        RecordCache(root, schema=fewer)
    with pytest.raises(ValueError, match="fingerprint 'clip-a'.*'clip-b'"):
        RecordCache(root, fingerprint='clip-b')


def test_changed_extra_input_is_named_at_open(tmp_path):
    root = str(tmp_path / 'cache')
    proposals = tmp_path / 'proposals.pkl'
    proposals.write_bytes(b'boxes of run 1')
    _write(
        root, {'img/a.png': _records(2)},
        extra_inputs=dict(proposals=str(proposals)))
    meta = json.loads((tmp_path / 'cache' / 'meta.json').read_text())
    assert meta['extra_inputs']['proposals']['bytes'] == 14
    # touched, same bytes: still the cache of this file
    os.utime(proposals, ns=(1, 1))
    RecordCache(root)
    # same size, other bytes
    proposals.write_bytes(b'boxes of run 2')
    with pytest.raises(ValueError, match="extra input 'proposals'") as info:
        RecordCache(root)
    assert str(proposals) in str(info.value)
    assert 'changed since the cache was built' in str(info.value)
    # moved: named, and found again where the config says it is now
    proposals.write_bytes(b'boxes of run 1')
    moved = tmp_path / 'moved.pkl'
    os.replace(proposals, moved)
    with pytest.raises(FileNotFoundError, match=r'proposals\.pkl, is missing'):
        RecordCache(root)
    RecordCache(root, extra_inputs=dict(proposals=str(moved)))
    with pytest.raises(ValueError, match=r"extra inputs \['proposals'\]"):
        RecordCache(root, extra_inputs=dict(embeddings=str(moved)))


def test_interrupted_rebuild_keeps_the_old_cache(tmp_path):
    root = str(tmp_path / 'cache')
    _write(root, {'img/a.png': _records(2, 0)}, fingerprint='old')
    with pytest.raises(RuntimeError, match='killed'):
        with RecordCacheWriter(root, SCHEMA, 'new') as writer:
            writer.add('img/a.png', _records(4, 1))
            raise RuntimeError('killed mid-way')
    cache = RecordCache(root, fingerprint='old')
    assert len(cache.get('img/a.png')['boxes']) == 2
    assert len(list((tmp_path / 'cache').glob('entries-*'))) == 1
    # a complete rebuild replaces it and its entries
    _write(root, {'img/a.png': _records(4, 1)}, fingerprint='new')
    assert len(RecordCache(root,
                           fingerprint='new').get('img/a.png')['boxes']) == 4
    assert len(list((tmp_path / 'cache').glob('entries-*'))) == 1


def test_truncated_entry_and_foreign_folders_are_refused(tmp_path):
    root = str(tmp_path / 'cache')
    _write(root, {'img/a.png': _records(2)})
    meta = json.loads((tmp_path / 'cache' / 'meta.json').read_text())
    path = osp.join(root, meta['entry_dir'],
                    meta['index']['img/a.png']['file'])
    # an entry's bytes are its fields' values, nothing else
    assert osp.getsize(path) == 2 * (4 * 4 + 8 * 2 + 4 + 8)
    opened = RecordCache(root)
    with open(path, 'r+b') as f:
        f.truncate(os.path.getsize(path) - 7)
    with pytest.raises(ValueError, match='truncated or rewritten') as info:
        RecordCache(root)
    assert path in str(info.value) and "'img/a.png'" in str(info.value)
    # truncated after the cache opened: named when read
    with pytest.raises(ValueError, match='is shorter than its records'):
        opened.get('img/a.png')
    # a folder of other files is not written into
    (tmp_path / 'results').mkdir()
    (tmp_path / 'results' / 'notes.txt').write_text('keep me')
    with pytest.raises(ValueError, match='not an mmkd record cache'):
        RecordCacheWriter(str(tmp_path / 'results'), SCHEMA)


def test_record_key_is_relative_to_data_root(tmp_path):
    root = str(tmp_path / 'data')
    # v1 keyed parent/basename: these two collided
    assert record_key(osp.join(root, 'a', 'img', '1.png'),
                      root) == ('a/img/1.png')
    assert record_key(osp.join(root, 'b', 'img', '1.png'),
                      root) == ('b/img/1.png')
    assert record_key(np.int64(17)) == '17'
    assert record_key('scene-0001_token') == 'scene-0001_token'
    with pytest.raises(ValueError, match='is not under data_root'):
        record_key(str(tmp_path / 'other' / '1.png'), root)
    with pytest.raises(TypeError, match='a path or a sample token'):
        record_key(None)


def test_map_boxes_follows_a_homography():
    boxes = torch.tensor([[1., 2., 5., 6.]])
    flip = np.array([[-1, 0, 10], [0, 1, 0], [0, 0, 1]])
    torch.testing.assert_close(
        map_boxes(boxes, flip), torch.tensor([[5., 2., 9., 6.]]))
    scale_shift = np.array([[2, 0, -1], [0, .5, 0], [0, 0, 1]])
    torch.testing.assert_close(
        map_boxes(boxes, scale_shift), torch.tensor([[1., 1., 9., 3.]]))


def _sample(path, **meta):
    return BaseDataElement(
        metainfo=dict(img_path=path, ori_shape=(20, 30), **meta))


def test_model_side_reads_records_into_data_samples(tmp_path):
    data_root = str(tmp_path / 'data')
    root = str(tmp_path / 'cache')
    boxes = torch.tensor([[2., 3., 8., 9.], [25., 1., 29., 4.]])
    records = dict(_records(2), boxes=boxes)
    _write(root, {'img/a.png': records, 'img/b.png': _records(0)})
    cache = RecordCache(root)
    # a horizontal flip of the 30-wide image, then a crop of x >= 20
    flip_crop = np.array([[-1, 0, 30], [0, 1, 0], [0, 0, 1]], np.float32)
    flip_crop = np.array([[1, 0, -20], [0, 1, 0], [0, 0, 1]]) @ flip_crop
    samples = [
        _sample(
            osp.join(data_root, 'img', 'a.png'),
            img_shape=(20, 10),
            flip=True,
            homography_matrix=flip_crop),
        _sample(osp.join(data_root, 'img', 'b.png'), img_shape=(20, 30))
    ]
    cache.pack(samples, data_root=data_root)
    first = samples[0].cached_records
    # box 0 flips to x 22..28 and moves to 2..8; box 1 (x 1..5) is cropped
    # away with its other fields
    assert len(first) == 1
    torch.testing.assert_close(first.boxes, torch.tensor([[2., 3., 8., 9.]]))
    torch.testing.assert_close(first.labels, records['labels'][:1])
    assert len(samples[1].cached_records) == 0
    # flipped, but no homography to follow: refused, not left in place
    flipped = _sample(
        osp.join(data_root, 'img', 'a.png'), img_shape=(20, 30), flip=True)
    with pytest.raises(ValueError, match='flipped but no homography_matrix'):
        cache.records_for([flipped], data_root=data_root)
    # fields without boxes need none
    assert len(
        cache.records_for([flipped], data_root=data_root,
                          fields=['scores'])[0]) == 2
    with pytest.raises(KeyError, match="no 'sample_idx' in its metainfo"):
        cache.records_for(samples, key='sample_idx')


@pytest.mark.parametrize('change', ['rewrite', 'delete'])
def test_extra_input_changed_during_the_build_is_not_committed(
        tmp_path, change):
    root = str(tmp_path / 'cache')
    proposals = tmp_path / 'proposals.pkl'
    proposals.write_bytes(b'boxes of run 1')
    writer = RecordCacheWriter(root, SCHEMA, 'a',
                               dict(proposals=str(proposals)))
    writer.add('img/a.png', _records(2))
    if change == 'rewrite':
        proposals.write_bytes(b'boxes of run 2, longer')
    else:
        proposals.unlink()
    with pytest.raises(
            ValueError, match='changed while the cache was '
            'written') as info:
        writer.close()
    assert str(proposals) in str(info.value)
    assert not (tmp_path / 'cache' / 'meta.json').exists()
    assert list((tmp_path / 'cache').iterdir()) == []


def test_content_digest_is_what_the_cache_holds_not_where_it_was_built(
        tmp_path):
    """Two builds of the same records from equal input files, in other
    folders at other times, have one content digest (what benchmark
    records compare); other records or inputs another."""
    from mmkd.utils.cache_files import content_digest
    entries = {'a.png': _records(3), 'b.png': _records(2, seed=1)}

    def build(name, proposals=b'boxes', records=entries):
        inputs = tmp_path / f'{name}.pkl'
        inputs.write_bytes(proposals)
        os.utime(inputs, (hash(name) % 1000, hash(name) % 1000))
        root = str(tmp_path / name)
        _write(root, records, extra_inputs=dict(proposals=str(inputs)))
        with open(osp.join(root, 'meta.json')) as f:
            return json.load(f)

    one, two = build('one'), build('two')
    assert one['entry_dir'] != two['entry_dir']
    assert one['extra_inputs'] != two['extra_inputs']  # path, mtime
    assert content_digest(one) == content_digest(two)
    assert content_digest(build('other_inputs', b'other boxes')) != \
        content_digest(one)
    changed = dict(entries, **{'b.png': _records(2, seed=2)})
    assert content_digest(build('other_records', records=changed)) != \
        content_digest(one)
