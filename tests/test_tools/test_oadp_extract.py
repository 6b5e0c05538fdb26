# Copyright (c) mmkd contributors. All rights reserved.
"""tools/misc/oadp_extract.py: OAKE's embeddings of a few generated images
(a random tiny CLIP with ViT-B/32's geometry, hand-made proposals) in
record caches, and the refusal of a cache of another CLIP or proposal
file."""
import importlib.util
import json
import os
import os.path as osp
import pickle

import mmcv
import numpy as np
import pytest
import torch
from clip_standins import random_openai_clip, save_torchscript

from mmkd.datasets.transforms.cached_records import LoadCachedRecords
from mmkd.methods.oadp import OAKE, open_oake_cache
from mmkd.models.clip import to_rgb_tensor

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ARCH = dict(
    vision_width=64, vision_layers=1, patch_size=32, grid=7, embed_dim=16)
SIZES = {'a.png': (240, 300), 'sub/b.png': (260, 230), 'c.png': (224, 224)}
KEYS = [f'images/{name}' for name in SIZES]


def load_tool():
    spec = importlib.util.spec_from_file_location(
        'oadp_extract', osp.join(ROOT, 'tools', 'misc', 'oadp_extract.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp('oake')
    images, annotations = [], []
    rng = np.random.default_rng(0)
    for i, (name, (h, w)) in enumerate(SIZES.items()):
        path = root / 'images' / name
        os.makedirs(path.parent, exist_ok=True)
        mmcv.imwrite(
            rng.integers(0, 256, (h, w, 3), dtype=np.uint8), str(path))
        images.append(dict(id=i + 1, file_name=name, height=h, width=w))
        annotations.append(
            dict(
                id=i + 1,
                image_id=i + 1,
                category_id=1,
                bbox=[10, 10, 50, 40],
                area=2000,
                iscrowd=0))
    with open(root / 'ann.json', 'w') as f:
        json.dump(
            dict(
                images=images,
                annotations=annotations,
                categories=[dict(id=1, name='digit')]), f)
    # by record key (relative to data_root), by mmdet 3 DumpProposals key
    # (<parent folder>/<file name>), by img_id; a 2 px box is dropped, one
    # reaches beyond the image
    proposals = {
        'images/a.png':
        np.array(
            [[10, 10, 60, 50, .9], [5, 5, 7, 7, .8], [200, 150, 300, 240, .3]],
            np.float32),
        'sub/b.png':
        np.array([[0, 0, 100, 120]], np.float32),
        3:
        np.zeros((0, 5), np.float32),
    }
    with open(root / 'proposals.pkl', 'wb') as f:
        pickle.dump(proposals, f)
    other = {**proposals, 3: np.array([[1, 1, 20, 20, 1.]])}
    with open(root / 'other_proposals.pkl', 'wb') as f:
        pickle.dump(other, f)
    clip = save_torchscript(
        random_openai_clip(dtype=torch.float32, **ARCH), str(root / 'clip.pt'))
    config = root / 'config.py'
    config.write_text(f"""
default_scope = 'mmdet'
train_dataloader = dict(dataset=dict(
    type='CocoDataset', data_root={str(root)!r}, ann_file='ann.json',
    data_prefix=dict(img='images/'), metainfo=dict(classes=('digit', )),
    # a pipeline loading this very cache cannot be built yet: not used
    pipeline=[dict(type='mmkd.LoadCachedRecords',
                   cache={str(root / 'oake' / 'objects')!r})]))
""")
    return dict(
        root=str(root),
        clip=clip,
        config=str(config),
        proposals=str(root / 'proposals.pkl'),
        other=str(root / 'other_proposals.pkl'),
        boxes=proposals)


@pytest.fixture(scope='module')
def caches(data):
    out = osp.join(data['root'], 'oake')
    load_tool().main([
        data['config'], '--clip', data['clip'], '--proposals',
        data['proposals'], '--out', out, '--batch-size', '2'
    ])
    return out


def _image(data, name):
    return to_rgb_tensor(
        mmcv.imread(osp.join(data['root'], 'images', name)), 'bgr')


def test_tool_writes_the_three_views(data, caches):
    oake = OAKE(data['clip'])
    for view in ('global', 'blocks', 'objects'):
        cache = open_oake_cache(caches, view, data['clip'], data['proposals'])
        assert sorted(cache.keys()) == sorted(KEYS)
        for key in KEYS:
            records = cache.get(key)
            assert records['embeddings'].dtype == torch.float16
            norms = records['embeddings'].float().norm(dim=-1)
            assert torch.allclose(norms, torch.ones_like(norms), atol=1e-3)
    glob = open_oake_cache(caches, 'global').get('images/a.png')['embeddings']
    assert torch.allclose(
        glob.float(), oake.embed_global(_image(data, 'a.png')), atol=1e-3)
    # 300 x 240: block 0 and 2 x 2 windows; 224 x 224: block 0 and one
    blocks = open_oake_cache(caches, 'blocks')
    assert blocks.get('images/a.png')['boxes'].tolist() == [[30, 0, 270, 240],
                                                            [0, 0, 224, 224],
                                                            [0, 16, 224, 240],
                                                            [76, 0, 300, 224],
                                                            [76, 16, 300, 240]]
    assert len(blocks.get('images/c.png')['boxes']) == 2
    expected = oake.embed_blocks(_image(data, 'sub/b.png'))
    got = blocks.get('images/sub/b.png')
    assert torch.equal(got['boxes'], expected['boxes'])
    assert torch.allclose(
        got['embeddings'].float(), expected['embeddings'], atol=1e-3)
    # objects: the proposals kept (>= 4 px), in original coordinates
    objects = open_oake_cache(caches, 'objects')
    a = objects.get('images/a.png')
    assert a['boxes'].tolist() == [[10, 10, 60, 50], [200, 150, 300, 240]]
    assert a['scores'].tolist() == pytest.approx([.9, .3])
    expected = oake.embed_objects(
        _image(data, 'a.png'), torch.from_numpy(data['boxes']['images/a.png']))
    assert torch.allclose(
        a['embeddings'].float(), expected['embeddings'], atol=1e-3)
    assert objects.get('images/sub/b.png')['scores'].tolist() == [1.]
    assert len(objects.get('images/c.png')['boxes']) == 0


def test_the_same_weights_in_another_format_are_accepted(data, caches):
    state_dict = str(osp.join(data['root'], 'clip.pth'))
    torch.save(random_openai_clip(dtype=torch.float32, **ARCH), state_dict)
    assert len(open_oake_cache(caches, 'objects', state_dict)) == 3


def test_a_cache_of_another_clip_is_refused(data, caches):
    other = str(osp.join(data['root'], 'other_clip.pth'))
    torch.save(random_openai_clip(seed=1, dtype=torch.float32, **ARCH), other)
    with pytest.raises(
            ValueError,
            match=r"OAKE cache '.*blocks' was computed with other CLIP "
            rf"weights \(clip=[0-9a-f]{{32}}\) than CLIP checkpoint "
            rf"'{other}'"):
        open_oake_cache(caches, 'blocks', other)
    with pytest.raises(
            ValueError,
            match=r'other OAKE settings: .*"faithful_block0_box": false.*'
            r'expected .*"faithful_block0_box": true'):
        open_oake_cache(
            caches, 'blocks', data['clip'], faithful_block0_box=True)


def test_a_cache_of_another_proposal_file_is_refused(data, caches):
    with pytest.raises(
            ValueError,
            match=r"extra input 'proposals', .*other_proposals.pkl, changed "
            'since the cache was built'):
        open_oake_cache(caches, 'objects', proposal_file=data['other'])
    # the data transform refuses it as well
    cache = dict(
        root=osp.join(caches, 'objects'),
        extra_inputs=dict(proposals=data['other']))
    with pytest.raises(ValueError, match='changed since the cache was built'):
        LoadCachedRecords(cache=cache)
    assert LoadCachedRecords(
        cache=dict(cache, extra_inputs=dict(proposals=data['proposals'])))


def test_missing_proposals_are_refused_before_any_image(data, tmp_path):
    proposals = str(tmp_path / 'proposals.pkl')
    with open(proposals, 'wb') as f:
        pickle.dump({'images/a.png': np.zeros((0, 4))}, f)
    out = str(tmp_path / 'oake')
    with pytest.raises(KeyError, match=r"no proposals for image '.*b.png'"):
        load_tool().main([
            data['config'], '--clip', data['clip'], '--proposals', proposals,
            '--out', out
        ])
    assert not osp.exists(osp.join(out, 'global', 'meta.json'))
