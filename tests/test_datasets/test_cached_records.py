# Copyright (c) mmkd contributors. All rights reserved.
"""Cached records in the data pipeline: boxes stored in the original image
follow the sample's own random resize, flip and crop exactly as its ground
truth does, with the other fields kept aligned."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmdet.structures.bbox import HorizontalBoxes

from mmkd.registry import TRANSFORMS
from mmkd.utils.record_cache import RecordCacheWriter

H, W = 48, 64
SCHEMA = dict(
    boxes=dict(dtype='float32', shape=(4, ), box='xyxy'),
    embeddings=dict(dtype='float16', shape=(4, )),
    ids=dict(dtype='int64', shape=()))
AUGMENT = [
    dict(
        type='mmdet.RandomResize',
        scale=(W, H),
        ratio_range=(0.6, 1.6),
        keep_ratio=True,
        resize_type='mmdet.Resize'),
    dict(
        type='mmdet.RandomFlip',
        prob=0.75,
        direction=['horizontal', 'vertical', 'diagonal']),
    dict(
        type='mmdet.RandomCrop', crop_size=(40, 30), allow_negative_crop=True),
]


def _gt_boxes(seed, n=12):
    rng = np.random.RandomState(seed)
    xy = rng.uniform(0, [W - 2, H - 2], (n, 2))
    wh = rng.uniform(1, 25, (n, 2))
    boxes = np.concatenate([xy, np.minimum(xy + wh, [W, H])], 1)
    return boxes.astype(np.float32)


@pytest.fixture(scope='module')
def cached(tmp_path_factory):
    """Each image's ground-truth boxes stored as its records (ids number
    them), keyed by path relative to the data root."""
    tmp = tmp_path_factory.mktemp('records')
    data_root, root = str(tmp / 'data'), str(tmp / 'cache')
    with RecordCacheWriter(root, SCHEMA, 'gt') as writer:
        for seed in range(4):
            boxes = _gt_boxes(seed)
            writer.add(
                f'img/{seed}.png',
                dict(
                    boxes=boxes,
                    embeddings=np.random.rand(len(boxes), 4),
                    ids=np.arange(len(boxes))))
    return data_root, root


def _results(data_root, seed):
    return dict(
        img=np.zeros((H, W, 3), np.uint8),
        img_shape=(H, W),
        ori_shape=(H, W),
        img_id=seed,
        img_path=osp.join(data_root, 'img', f'{seed}.png'),
        gt_bboxes=HorizontalBoxes(_gt_boxes(seed)),
        gt_bboxes_labels=np.arange(12))


def _pipeline(steps):
    return [TRANSFORMS.build(step) for step in steps]


def _run(pipeline, results):
    for transform in pipeline:
        results = transform(results)
    return results


def test_boxes_follow_random_resize_flip_crop_as_ground_truth(cached):
    data_root, root = cached
    pipeline = _pipeline([
        dict(type='mmkd.LoadCachedRecords', cache=root, data_root=data_root),
        *AUGMENT,
        dict(type='mmkd.TransformCachedBoxes'),
        dict(type='mmdet.Pad', size=(48, 48)),
        dict(
            type='mmkd.PackCachedRecords',
            pack=dict(type='mmdet.PackDetInputs')),
    ])
    flips, dropped = set(), 0
    for trial in range(24):
        np.random.seed(trial)
        packed = _run(pipeline, _results(data_root, trial % 4))
        sample = packed['data_samples']
        gt = sample.gt_instances
        records = sample.cached_records
        # the same records survive the crop, in the same order
        torch.testing.assert_close(records.ids, gt.labels)
        torch.testing.assert_close(
            records.boxes, gt.bboxes.tensor, atol=1e-3, rtol=0)
        assert records.embeddings.shape == (len(gt), 4)
        flips.add(sample.flip_direction if sample.flip else None)
        dropped += 12 - len(gt)
    # the trials did flip every way and crop boxes away
    assert flips == {None, 'horizontal', 'vertical', 'diagonal'}
    assert dropped > 0


def test_packing_moves_boxes_itself(cached):
    data_root, root = cached
    pipeline = _pipeline([
        dict(
            type='mmkd.LoadCachedRecords',
            cache=dict(root=root, schema=SCHEMA),
            data_root=data_root,
            fields=['boxes']),
        *AUGMENT,
        dict(
            type='mmkd.PackCachedRecords',
            pack=dict(type='mmdet.PackDetInputs')),
    ])
    np.random.seed(3)
    sample = _run(pipeline, _results(data_root, 1))['data_samples']
    assert list(sample.cached_records.keys()) == ['boxes']
    torch.testing.assert_close(
        sample.cached_records.boxes,
        sample.gt_instances.bboxes.tensor,
        atol=1e-3,
        rtol=0)


def test_transforms_that_record_no_homography_are_refused(cached):
    data_root, root = cached
    # mmcv's Resize and RandomFlip (mmseg's) move the image but record no
    # homography; an image-only pipeline, as mmseg's
    results = _results(data_root, 0)
    del results['gt_bboxes'], results['gt_bboxes_labels']
    load = dict(type='mmkd.LoadCachedRecords', cache=root, data_root=data_root)
    pipeline = _pipeline([
        load,
        dict(type='mmcv.Resize', scale=(32, 24), keep_ratio=True),
        dict(type='mmkd.TransformCachedBoxes'),
    ])
    with pytest.raises(
            ValueError,
            match=r'reshaped from \(48, 64\) to '
            r'\(24, 32\) but no homography_matrix') as info:
        _run(pipeline, dict(results))
    assert root in str(info.value) and "'img/0.png'" in str(info.value)
    assert "resize_type='mmdet.Resize'" in str(info.value)
    pipeline = _pipeline([
        load,
        dict(type='mmcv.RandomFlip', prob=1.),
        dict(
            type='mmkd.PackCachedRecords',
            pack=dict(type='mmdet.PackDetInputs')),
    ])
    with pytest.raises(ValueError, match='flipped but no homography_matrix'):
        _run(pipeline, dict(results))


def test_another_samples_records_by_key(cached):
    data_root, root = cached
    pipeline = _pipeline([
        dict(type='mmkd.LoadCachedRecords', cache=root, data_root=data_root),
        dict(
            type='mmkd.LoadCachedRecords',
            cache=root,
            data_root=data_root,
            key='prev_img_path',
            prefix='prev_',
            fields=['embeddings'],
            transform_boxes=False),
        dict(
            type='mmkd.PackCachedRecords',
            pack=dict(type='mmdet.PackDetInputs')),
    ])
    results = _results(data_root, 2)
    results['prev_img_path'] = osp.join(data_root, 'img', '1.png')
    sample = _run(pipeline, results)['data_samples']
    assert len(sample.cached_records) == 12
    assert list(sample.prev_records.keys()) == ['embeddings']
    results = _results(data_root, 2)
    results['prev_img_path'] = osp.join(data_root, 'img', '9.png')
    with pytest.raises(KeyError, match="no entry 'img/9.png'") as info:
        _run(pipeline, results)
    assert root in str(info.value)
    with pytest.raises(KeyError, match="has no 'prev_img_path'"):
        _run(pipeline, _results(data_root, 2))


def test_bad_configuration_is_named(cached):
    data_root, root = cached
    with pytest.raises(KeyError, match=r"no field\(s\) \['feats'\]"):
        TRANSFORMS.build(
            dict(type='mmkd.LoadCachedRecords', cache=root, fields=['feats']))
    with pytest.raises(ValueError, match="field 'ids' is int64"):
        TRANSFORMS.build(
            dict(
                type='mmkd.LoadCachedRecords',
                cache=dict(
                    root=root,
                    schema=dict(SCHEMA, ids=dict(dtype='int32', shape=())))))
    load = TRANSFORMS.build(dict(type='mmkd.LoadCachedRecords', cache=root))
    with pytest.raises(ValueError, match='is not under data_root'):
        TRANSFORMS.build(
            dict(
                type='mmkd.LoadCachedRecords',
                cache=root,
                data_root='/elsewhere'))(
                    _results(data_root, 0))
    # keyed without data_root: the absolute path is not a key of the cache
    with pytest.raises(KeyError, match='not relative to the same data_root'):
        load(_results(data_root, 0))
    with pytest.raises(KeyError, match='put LoadCachedRecords before it'):
        TRANSFORMS.build(dict(type='mmkd.TransformCachedBoxes'))(
            _results(data_root, 0))
