# Copyright (c) mmkd contributors. All rights reserved.
import json
import os.path as osp

import pytest
import torch
from mmengine.structures import BaseDataElement

from mmkd.models.distillers.teacher_cache import (TeacherCache, decode,
                                                  encode, sample_key)


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
    assert len(list((tmp_path / 'cache' / 'entries').iterdir())) == 2
    with open(osp.join(root, 'meta.json')) as f:
        meta = json.load(f)
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
