# Copyright (c) mmkd contributors. All rights reserved.
"""OADP's ``mmkd.LoadOAKERecords``: the results of the three
``mmkd.LoadCachedRecords`` the DP configs listed before it, on OAKE
caches of two tiny images (a random tiny CLIP, hand-made proposals)."""
import os.path as osp
import pickle

import mmcv
import numpy as np
import pytest
import torch
from clip_standins import random_openai_clip
from mmcv.transforms import Compose
from mmengine.registry import init_default_scope

from mmkd.datasets.transforms import RECORD_GROUPS
from mmkd.methods.oadp import OAKE, extract_oake
from mmkd.registry import TRANSFORMS

ARCH = dict(
    vision_width=64, vision_layers=1, patch_size=32, grid=7, embed_dim=16)
# block 0 and 2 x 2 windows; block 0 only
SIZES = {'a.png': (240, 300), 'b.png': (224, 200)}


class _Images:
    """A dataset of image paths (all OAKE's extraction reads)."""

    def __init__(self, paths):
        self.paths = paths

    def __len__(self):
        return len(self.paths)

    def get_data_info(self, i):
        return dict(img_path=self.paths[i], img_id=i)


@pytest.fixture(scope='module')
def caches(tmp_path_factory):
    root = tmp_path_factory.mktemp('oake_records')
    data_root = str(root / 'ds') + '/'
    rng = np.random.default_rng(0)
    paths = []
    for name, (h, w) in SIZES.items():
        paths.append(osp.join(data_root, 'images', name))
        mmcv.imwrite(
            rng.integers(0, 256, (h, w, 3), dtype=np.uint8), paths[-1])
    proposals = {
        'images/a.png':
        np.array([[10, 20, 90, 110, .9], [120, 100, 290, 230, .7],
                  [0, 0, 2, 2, .5]], np.float32),
        'images/b.png':
        np.array([[5, 5, 150, 200, .8]], np.float32),
    }
    proposal_file = str(root / 'proposals.pkl')
    with open(proposal_file, 'wb') as f:
        pickle.dump(proposals, f)
    other = str(root / 'other.pkl')
    with open(other, 'wb') as f:
        pickle.dump({
            **proposals, 'images/b.png': proposals['images/a.png']
        }, f)
    torch.manual_seed(0)
    oake = OAKE(random_openai_clip(dtype=torch.float32, **ARCH))
    oake_root = str(root / 'oake' / 'train') + '/'
    extract_oake(
        _Images(paths),
        oake,
        oake_root,
        proposal_file=proposal_file,
        data_root=data_root)
    return dict(
        data_root=data_root,
        oake_root=oake_root,
        proposal_file=proposal_file,
        other=other,
        paths=paths)


def three_loaders(oake_root, proposal_file, data_root):
    """The three transforms the OADP configs listed (as of 1df857a)."""
    return [
        dict(
            type='mmkd.LoadCachedRecords',
            cache=oake_root + 'global',
            prefix='oake_global_',
            data_root=data_root),
        dict(
            type='mmkd.LoadCachedRecords',
            cache=oake_root + 'blocks',
            prefix='oake_blocks_',
            data_root=data_root),
        dict(
            type='mmkd.LoadCachedRecords',
            cache=dict(
                root=oake_root + 'objects',
                extra_inputs=dict(proposals=proposal_file)),
            fields=['boxes', 'embeddings'],
            prefix='oake_objects_',
            data_root=data_root),
    ]


def one_loader(oake_root, proposal_file, data_root):
    return [
        dict(
            type='mmkd.LoadOAKERecords',
            oake_root=oake_root,
            proposal_file=proposal_file,
            data_root=data_root)
    ]


def assert_same(found, expected):
    assert sorted(found) == sorted(expected)
    for key, value in expected.items():
        if isinstance(value, torch.Tensor):
            assert value.dtype == found[key].dtype, key
            assert torch.equal(value, found[key]), key
        elif isinstance(value, np.ndarray):
            assert np.array_equal(value, found[key]), key
        else:
            assert value == found[key], key


def test_same_results_as_the_three_load_cached_records(caches):
    args = (caches['oake_root'], caches['proposal_file'], caches['data_root'])
    init_default_scope('mmdet')
    load = [dict(type='LoadImageFromFile')]
    old = Compose(load + three_loaders(*args))
    new = Compose(load + one_loader(*args))
    for path in caches['paths']:
        expected = old(dict(img_path=path))
        found = new(dict(img_path=path))
        assert_same(found, expected)
        groups = found[RECORD_GROUPS]
        assert list(groups) == [
            'oake_global_', 'oake_blocks_', 'oake_objects_'
        ]
        assert groups['oake_objects_']['fields'] == ['boxes', 'embeddings']
        assert groups['oake_objects_']['cache'] == \
            caches['oake_root'] + 'objects'
        assert found['oake_global_embeddings'].shape == (1, 16)
    # the first image: block 0 and 2 x 2; 2 proposals of 3 (>= 4 px)
    first = new(dict(img_path=caches['paths'][0]))
    assert first['oake_blocks_boxes'].shape == (5, 4)
    assert first['oake_objects_boxes'].tolist() == [[10, 20, 90, 110],
                                                    [120, 100, 290, 230]]
    assert found['oake_blocks_boxes'].shape == (1, 4)


def test_same_data_samples_after_resize_flip_and_pack(caches):
    args = (caches['oake_root'], caches['proposal_file'], caches['data_root'])
    init_default_scope('mmdet')
    load = [dict(type='LoadImageFromFile')]
    augment = [
        dict(type='Resize', scale=(112, 112), keep_ratio=True),
        dict(type='RandomFlip', prob=1.0),
        dict(type='mmkd.PackCachedRecords', pack=dict(type='PackDetInputs'))
    ]
    old = Compose(load + three_loaders(*args) + augment)
    new = Compose(load + one_loader(*args) + augment)
    path = caches['paths'][0]
    expected, found = old(dict(img_path=path)), new(dict(img_path=path))
    assert torch.equal(found['inputs'], expected['inputs'])
    for view in ('global', 'blocks', 'objects'):
        name = f'oake_{view}_records'
        records = found['data_samples'].get(name)
        assert records is not None, name
        assert_same(records.to_dict(),
                    expected['data_samples'].get(name).to_dict())
    # moved into the flipped image, 112 px wide
    boxes = found['data_samples'].oake_objects_records.boxes
    assert float(boxes[:, 2].max()) <= 112


def test_another_proposal_file_is_refused(caches):
    with pytest.raises(
            ValueError,
            match=r"objects': extra input 'proposals', .*other.pkl, changed "
            'since the cache was built'):
        TRANSFORMS.build(
            one_loader(caches['oake_root'], caches['other'],
                       caches['data_root'])[0])


def test_a_missing_cache_is_named(caches, tmp_path):
    with pytest.raises(FileNotFoundError, match=r'nowhere.?global'):
        TRANSFORMS.build(
            one_loader(
                str(tmp_path / 'nowhere'), caches['proposal_file'],
                caches['data_root'])[0])
