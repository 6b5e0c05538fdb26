# Copyright (c) mmkd contributors. All rights reserved.
import json
import os
import os.path as osp
import re
import shutil

import cv2
import numpy as np
import pytest
from mmcv.transforms import LoadImageFromFile
from mmdet.datasets import CocoDataset
from mmdet.datasets.transforms import LoadAnnotations as DetLoadAnnotations
from mmkd_testing import collect_logs
from mmseg.datasets import BaseSegDataset
from mmseg.datasets.transforms import LoadAnnotations as SegLoadAnnotations
from pycocotools import mask as mask_utils

from mmkd.datasets import (DIGIT_SCENES_CLASSES, DigitScenesDataset,
                           DigitScenesDetDataset, digit_pool_split,
                           make_digit_scenes)
from mmkd.registry import DATASETS

SMALL = dict(num_train=12, num_val=4, img_size=64, seed=0)


def _files(root):
    out = {}
    for d, _, names in os.walk(root):
        for name in names:
            path = osp.join(d, name)
            out[osp.relpath(path, root)] = path
    return out


def _coco(root, split):
    with open(osp.join(root, 'annotations', f'instances_{split}.json')) as f:
        return json.load(f)


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    return make_digit_scenes(str(tmp_path_factory.mktemp('ds')), **SMALL)


def test_layout(root):
    files = _files(root)
    for split, num in (('train', 12), ('val', 4)):
        for folder in ('img_dir', 'ann_dir'):
            names = [f for f in files if f.startswith(f'{folder}/{split}/')]
            assert len(names) == num
    with open(osp.join(root, 'meta.json')) as f:
        meta = json.load(f)
    assert {k: meta[k] for k in SMALL} == SMALL
    img = cv2.imread(osp.join(root, 'img_dir/train/00000.png'))
    assert img.shape == (64, 64, 3)


def test_determinism(root, tmp_path):
    again = make_digit_scenes(str(tmp_path / 'same'), **SMALL)
    other = make_digit_scenes(str(tmp_path / 'other'), **dict(SMALL, seed=1))
    a, b, c = _files(root), _files(again), _files(other)
    assert a.keys() == b.keys() == c.keys()
    for rel in a:
        with open(a[rel], 'rb') as fa, open(b[rel], 'rb') as fb:
            assert fa.read() == fb.read(), rel
    differ = 0
    for rel in a:
        if rel.startswith('img_dir'):
            with open(a[rel], 'rb') as fa, open(c[rel], 'rb') as fc:
                differ += fa.read() != fc.read()
    assert differ == 16


def test_pool_split(root):
    train_pool, val_pool = digit_pool_split()
    assert len(np.intersect1d(train_pool, val_pool)) == 0
    assert len(train_pool) + len(val_pool) == 1797
    assert abs(len(val_pool) - 0.2 * 1797) < 1
    for split, pool in (('train', train_pool), ('val', val_pool)):
        scans = [a['scan_id'] for a in _coco(root, split)['annotations']]
        assert np.isin(scans, pool).all()


@pytest.mark.parametrize('split', ['train', 'val'])
def test_annotations_agree(root, split):
    coco = _coco(root, split)
    assert [c['name']
            for c in coco['categories']] == list(DIGIT_SCENES_CLASSES[1:])
    assert [c['id'] for c in coco['categories']] == list(range(1, 11))
    anns = {}
    for ann in coco['annotations']:
        anns.setdefault(ann['image_id'], []).append(ann)
    for img in coco['images']:
        seg = cv2.imread(
            osp.join(root, 'ann_dir', split, img['file_name']),
            cv2.IMREAD_UNCHANGED)
        assert seg.shape == (img['height'], img['width'])
        assert seg.dtype == np.uint8 and seg.max() <= 10
        assert img['id'] in anns, 'every canvas keeps at least one digit'
        union = np.zeros(seg.shape, bool)
        for ann in anns[img['id']]:
            mask = mask_utils.decode(ann['segmentation']).astype(bool)
            assert not (union & mask).any(), 'instance masks overlap'
            union |= mask
            assert (seg[mask] == ann['category_id']).all()
            assert ann['area'] == mask.sum() and ann['iscrowd'] == 0
            ys, xs = np.nonzero(mask)
            assert ann['bbox'] == [
                xs.min(),
                ys.min(),
                xs.max() - xs.min() + 1,
                ys.max() - ys.min() + 1
            ]
            x, y = ann['point']
            assert mask[y, x]
        assert ((seg > 0) == union).all()


def test_upstream_mmseg_reads(root):
    dataset = BaseSegDataset(
        data_root=root,
        data_prefix=dict(
            img_path='img_dir/train', seg_map_path='ann_dir/train'),
        img_suffix='.png',
        seg_map_suffix='.png',
        reduce_zero_label=False,
        metainfo=dict(classes=DIGIT_SCENES_CLASSES),
        pipeline=[LoadImageFromFile(),
                  SegLoadAnnotations()])
    assert len(dataset) == 12
    data = dataset[0]
    assert {'img', 'gt_seg_map', 'img_path', 'seg_map_path'} <= data.keys()
    assert data['img'].shape == (64, 64, 3)
    assert data['gt_seg_map'].shape == (64, 64)
    assert data['gt_seg_map'].max() <= 10


def test_upstream_mmdet_reads(root):
    dataset = CocoDataset(
        data_root=root,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='img_dir/val/'),
        metainfo=dict(classes=DIGIT_SCENES_CLASSES[1:]),
        pipeline=[
            LoadImageFromFile(),
            DetLoadAnnotations(with_bbox=True, with_mask=True)
        ])
    assert len(dataset) == 4
    data = dataset[0]
    assert {'img', 'gt_bboxes', 'gt_bboxes_labels', 'gt_masks'} <= data.keys()
    num = len(data['gt_bboxes'])
    assert num > 0 and not data['gt_ignore_flags'].any()
    assert data['gt_masks'].masks.shape == (num, 64, 64)


def test_idempotent(tmp_path):
    root = make_digit_scenes(str(tmp_path / 'ds'), **dict(SMALL, num_val=1))
    before = {rel: os.stat(p).st_mtime_ns for rel, p in _files(root).items()}
    make_digit_scenes(root, **dict(SMALL, num_val=1))
    after = {rel: os.stat(p).st_mtime_ns for rel, p in _files(root).items()}
    assert before == after
    # other params regenerate, and drop canvases that are no longer wanted
    make_digit_scenes(root, **dict(SMALL, num_train=3, num_val=1, seed=2))
    assert len(os.listdir(osp.join(root, 'img_dir/train'))) == 3
    with open(osp.join(root, 'meta.json')) as f:
        assert json.load(f)['seed'] == 2


def test_a_set_generated_otherwise_is_read_not_overwritten(tmp_path):
    """A config whose generate_cfg leaves the seed out, pointed at a set of
    another seed (a held-out root), reads it; the parameters it states
    with other values still regenerate, with a warning naming them."""
    root = make_digit_scenes(
        str(tmp_path / 'heldout'), **dict(SMALL, num_val=1, seed=100))
    before = {rel: os.stat(p).st_mtime_ns for rel, p in _files(root).items()}
    ds = DigitScenesDataset(
        data_root=root,
        auto_generate=True,
        generate_cfg=dict(img_size=SMALL['img_size']))
    assert len(ds) == SMALL['num_train']
    after = {rel: os.stat(p).st_mtime_ns for rel, p in _files(root).items()}
    assert before == after
    with collect_logs() as messages:
        ds = DigitScenesDataset(
            data_root=root, generate_cfg=dict(num_train=3, seed=1))
    assert len(ds) == 3
    assert any(
        f'generating over {root!r}' in m and 'num_train 12 -> 3' in m
        and 'seed 100 -> 1' in m and 'img_size' not in m for m in messages)
    with open(osp.join(root, 'meta.json')) as f:
        meta = json.load(f)
    assert (meta['seed'], meta['num_val'], meta['img_size']) == (1, 1, 64)


def test_errors_name_directory(tmp_path):
    stray = tmp_path / 'stray'
    stray.mkdir()
    (stray / 'notes.txt').write_text('not digit scenes')
    with pytest.raises(FileNotFoundError, match=re.escape(str(stray))) as e:
        DigitScenesDataset(data_root=str(stray))
    assert 'tools/dataset_converters/digit_scenes.py' in str(e.value)
    assert os.listdir(stray) == ['notes.txt'], 'must not generate over it'

    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=re.escape(str(empty))):
        DigitScenesDetDataset(data_root=str(empty), auto_generate=False)
    with pytest.raises(ValueError, match='num_train'):
        make_digit_scenes(str(tmp_path / 'bad'), num_train=0)


def test_registry_builds_and_generates(tmp_path):
    data_root = str(tmp_path / 'auto' / 'digit_scenes')
    cfg = dict(num_train=3, num_val=2, img_size=48, seed=0)
    seg = DATASETS.build(
        dict(
            type='mmkd.DigitScenesDataset',
            data_root=data_root,
            auto_generate=True,
            generate_cfg=cfg))
    assert isinstance(seg, DigitScenesDataset) and len(seg) == 3
    assert seg.metainfo['classes'] == DIGIT_SCENES_CLASSES
    assert osp.isfile(osp.join(data_root, 'meta.json'))

    det = DATASETS.build(
        dict(
            type='mmkd.DigitScenesDetDataset',
            data_root=data_root,
            ann_file='annotations/instances_val.json',
            data_prefix=dict(img='img_dir/val/'),
            auto_generate=True,
            generate_cfg=cfg))
    assert isinstance(det, DigitScenesDetDataset) and len(det) == 2
    assert det.metainfo['classes'] == DIGIT_SCENES_CLASSES[1:]
    info = det.get_data_info(0)
    assert info['instances'] and 'mask' in info['instances'][0]

    # nothing matching must not give a 0-length dataset
    with pytest.raises(FileNotFoundError, match='no samples'):
        DigitScenesDataset(data_root=data_root, img_suffix='.jpg')
    # nor an emptied image folder
    for name in os.listdir(osp.join(data_root, 'img_dir/train')):
        os.remove(osp.join(data_root, 'img_dir/train', name))
    with pytest.raises(FileNotFoundError, match=re.escape(data_root)):
        DigitScenesDataset(data_root=data_root)


def test_generates_on_first_use_only_at_the_default_root(
        tmp_path, monkeypatch):
    """A data_root typo must not silently generate a new dataset there: by
    default only ``data/digit_scenes`` (however spelt) is generated."""
    monkeypatch.chdir(tmp_path)
    tiny = dict(num_train=2, num_val=1, img_size=32, seed=0)
    typo = 'data/digit_scene'
    for cls in (DigitScenesDataset, DigitScenesDetDataset):
        with pytest.raises(FileNotFoundError,
                           match=rf"'{typo}'.*default root "
                           r"'data/digit_scenes'.*auto_generate=True"):
            cls(data_root=typo, generate_cfg=tiny)
    assert not osp.exists(typo)
    # the default root, spelt otherwise, is generated on first use
    seg = DigitScenesDataset(data_root='./data/../data/digit_scenes/',
                             generate_cfg=tiny)
    assert len(seg) == 2
    assert osp.isfile(osp.join('data', 'digit_scenes', 'meta.json'))
    # an existing DigitScenes root is regenerated for other parameters
    shutil.copytree('data/digit_scenes', 'elsewhere')
    seg = DigitScenesDataset(data_root='elsewhere',
                             generate_cfg=dict(tiny, num_train=3))
    assert len(seg) == 3
    # auto_generate=False never generates, even at the default root
    shutil.rmtree('data/digit_scenes')
    with pytest.raises(FileNotFoundError, match='auto_generate=False'):
        DigitScenesDataset(auto_generate=False)
    assert not osp.exists('data/digit_scenes')


def test_shifted_domain_is_a_harder_rendition(tmp_path):
    """The target domain: other scenes, lower contrast, other colour
    statistics; labels as reliable as the clean domain's."""
    import json

    import cv2
    import numpy as np
    clean = make_digit_scenes(str(tmp_path / 'clean'), num_train=16,
                              num_val=2, img_size=64)
    shifted = make_digit_scenes(str(tmp_path / 'shifted'), num_train=16,
                                num_val=2, img_size=64, domain='shifted')
    with open(f'{shifted}/meta.json') as f:
        assert json.load(f)['domain'] == 'shifted'

    def stats(root):
        lumas = [cv2.imread(f'{root}/img_dir/train/{i:05d}.png', 0).astype(
            float) for i in range(16)]
        segs = [cv2.imread(f'{root}/ann_dir/train/{i:05d}.png', 0)
                for i in range(16)]
        # luma contrast between digit and background pixels, per canvas
        gaps = [abs(luma[seg > 0].mean() - luma[seg == 0].mean())
                for luma, seg in zip(lumas, segs) if (seg > 0).any()]
        return np.mean(gaps), np.mean([luma.std() for luma in lumas]), segs

    clean_gap, clean_std, clean_segs = stats(clean)
    shifted_gap, shifted_std, shifted_segs = stats(shifted)
    # fog and colour cast cost contrast (30 canvases measured: 0.70x and
    # 0.57x)
    assert shifted_gap < 0.8 * clean_gap
    assert shifted_std < 0.75 * clean_std
    # other scenes for the same seed, with digits in them
    assert any((a != b).any() for a, b in zip(clean_segs, shifted_segs))
    assert all((s > 0).any() for s in shifted_segs)
    # deterministic
    again = make_digit_scenes(str(tmp_path / 'again'), num_train=8,
                              num_val=2, img_size=64, domain='shifted')
    a = cv2.imread(f'{again}/img_dir/train/00003.png')
    b = cv2.imread(f'{shifted}/img_dir/train/00003.png')
    assert (a == b).all()
    with pytest.raises(ValueError, match='domain must be one of'):
        make_digit_scenes(str(tmp_path / 'x'), domain='foggy')


def test_sets_stamped_before_domains_are_clean(tmp_path):
    import json
    root = make_digit_scenes(str(tmp_path / 'd'), num_train=2, num_val=1,
                             img_size=32)
    meta_path = f'{root}/meta.json'
    with open(meta_path) as f:
        meta = json.load(f)
    del meta['domain']  # as written by earlier versions
    with open(meta_path, 'w') as f:
        json.dump(meta, f)
    mtime = os.path.getmtime(meta_path)
    make_digit_scenes(root, num_train=2, num_val=1, img_size=32)
    assert os.path.getmtime(meta_path) == mtime  # not regenerated
