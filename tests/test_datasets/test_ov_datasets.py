# Copyright (c) mmkd contributors. All rights reserved.
"""Open-vocabulary datasets: the split is explicit and checked at build
time (novel annotations in a training set, classes mmdet would drop or
mislabel, a split of other classes are errors naming the file)."""
import json
import os
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest
from ov_coco_standins import COCO_CLASSES, write_fake_coco

from mmkd.datasets import OVCocoDataset, make_digit_scenes
from mmkd.datasets.open_vocabulary import (DIGIT_SCENES_BASE_CLASSES,
                                           DIGIT_SCENES_NOVEL_CLASSES,
                                           OV_COCO_CLASSES,
                                           OVDigitScenesDetDataset,
                                           write_ov_splits)
from mmkd.registry import DATASETS

SMALL = dict(num_train=12, num_val=4, img_size=64, seed=0)
NOVEL_LABELS = {int(c) for c in DIGIT_SCENES_NOVEL_CLASSES}


@pytest.fixture(scope='module')
def digits(tmp_path_factory):
    return make_digit_scenes(str(tmp_path_factory.mktemp('ovds')), **SMALL)


def _count(root, split, labels):
    with open(osp.join(root, 'annotations', f'instances_{split}.json')) as f:
        anns = json.load(f)['annotations']
    return sum(a['category_id'] - 1 in labels for a in anns)


def _labels(dataset):
    return [
        i['bbox_label'] for k in range(len(dataset))
        for i in dataset.get_data_info(k)['instances']
    ]


def test_digit_scenes_train_split_has_base_labels_only(digits):
    train = OVDigitScenesDetDataset(data_root=digits, generate_cfg=SMALL)
    assert len(train) == SMALL['num_train']  # images without labels kept
    labels = _labels(train)
    assert labels and max(labels) < len(DIGIT_SCENES_BASE_CLASSES)
    assert len(labels) == _count(digits, 'train', set(range(7)))
    assert train.metainfo['novel_classes'] == DIGIT_SCENES_NOVEL_CLASSES
    assert _count(digits, 'train', NOVEL_LABELS) > 0  # they were there


def test_digit_scenes_val_split_has_all_labels(digits):
    val = DATASETS.build(
        dict(
            type='OVDigitScenesDetDataset',
            data_root=digits,
            generate_cfg=SMALL,
            ann_file='annotations/instances_val_ov_all.json',
            data_prefix=dict(img='img_dir/val/'),
            test_mode=True))
    assert sum(label in NOVEL_LABELS for label in _labels(val)) == _count(
        digits, 'val', NOVEL_LABELS) > 0


def test_novel_annotations_in_a_train_set_are_an_error(digits):
    num = {
        c: _count(digits, 'train', {int(c)})
        for c in DIGIT_SCENES_NOVEL_CLASSES
    }
    found = ', '.join(f'{k} of class {c!r}' for c, k in num.items() if k)
    with pytest.raises(
            ValueError,
            match=r'training set \S*instances_train\.json has annotations '
            f'of novel classes: {found}. '):
        OVDigitScenesDetDataset(
            data_root=digits,
            generate_cfg=SMALL,
            ann_file='annotations/instances_train.json')
    # an oracle trains on them on purpose
    oracle = OVDigitScenesDetDataset(
        data_root=digits,
        generate_cfg=SMALL,
        ann_file='annotations/instances_train.json',
        check_no_novel=False)
    assert NOVEL_LABELS & set(_labels(oracle))


def test_split_follows_metainfo(tmp_path):
    root = make_digit_scenes(str(tmp_path / 'ds'), **SMALL)
    meta = dict(base_classes=tuple('01234'), novel_classes=tuple('56789'))
    train = OVDigitScenesDetDataset(
        data_root=root, generate_cfg=SMALL, metainfo=meta)
    assert max(_labels(train)) < 5
    # a copy of that split read as the default 0-6 / 7-9 split
    ann_dir = osp.join(root, 'annotations')
    shutil.copy(
        osp.join(ann_dir, 'instances_train_ov_base.json'),
        osp.join(ann_dir, 'other.json'))
    with pytest.raises(
            ValueError,
            match=r"other\.json was split with base classes \['0', '1', "
            r"'2', '3', '4'\] and novel classes \['5', .*metainfo names "
            r"\['0', '1', '2', '3', '4', '5', '6'\]"):
        OVDigitScenesDetDataset(
            data_root=root,
            generate_cfg=SMALL,
            ann_file='annotations/'
            'other.json')
    # the default split was rewritten for the default classes
    train = OVDigitScenesDetDataset(data_root=root, generate_cfg=SMALL)
    assert len(_labels(train)) == _count(root, 'train', set(range(7)))


def test_regenerated_data_get_a_new_split(tmp_path):
    root = str(tmp_path / 'ds')
    small = dict(SMALL, num_train=4, num_val=1)
    before = _labels(
        OVDigitScenesDetDataset(
            data_root=root, auto_generate=True, generate_cfg=small))
    train = OVDigitScenesDetDataset(
        data_root=root, generate_cfg=dict(small, seed=1))
    assert _labels(train) != before
    assert len(_labels(train)) == _count(root, 'train', set(range(7)))


def test_canvases_large_enough_for_224_windows(tmp_path):
    # OAKE's 224 px windows (stride <= 112) fit at 3 positions per axis of
    # a 448 canvas; the digits scale with the canvas (20-48 px at 128)
    root = make_digit_scenes(
        str(tmp_path / 'big'), num_train=2, num_val=1, img_size=448)
    img = cv2.imread(osp.join(root, 'img_dir/train/00000.png'))
    assert img.shape == (448, 448, 3)
    with open(osp.join(root, 'annotations/instances_train.json')) as f:
        boxes = np.array([a['bbox'] for a in json.load(f)['annotations']])
    assert boxes[:, 2:].max() > 48 and boxes[:, 2:].max() <= 168


@pytest.fixture
def coco(tmp_path):
    root = write_fake_coco(str(tmp_path / 'coco'), with_images=True)
    ann_dir = osp.join(root, 'annotations')
    write_ov_splits(
        osp.join(ann_dir, 'instances_train2017.json'),
        osp.join(ann_dir, 'instances_val2017.json'), *[
            OVCocoDataset.METAINFO[k]
            for k in ('base_classes', 'novel_classes')
        ])
    return root


def _ov_coco(root, ann='instances_train2017_ov_base.json', **kwargs):
    return OVCocoDataset(
        data_root=root,
        ann_file=f'annotations/{ann}',
        data_prefix=dict(img='train2017/'),
        **kwargs)


def test_ov_coco_reads_the_split(coco):
    train = _ov_coco(coco)
    assert len(train) == 4
    names = [OV_COCO_CLASSES[label] for label in _labels(train)]
    assert names == ['person', 'bicycle']
    val = _ov_coco(coco, 'instances_val2017_ov_all.json', test_mode=True)
    assert sorted(OV_COCO_CLASSES[label] for label in _labels(val)) == [
        'airplane', 'airplane', 'bicycle', 'cat', 'person'
    ]


def test_ov_coco_refuses_the_raw_file(coco):
    # 'traffic light' is in neither set: mmdet would drop it
    with pytest.raises(
            ValueError,
            match=r'instances_val2017\.json has annotations of categories '
            r"outside metainfo.classes, which mmdet would drop without a "
            r"word: \{'traffic light': 1\}"):
        _ov_coco(coco, 'instances_val2017.json', test_mode=True)


def test_ov_coco_names_novel_classes_and_counts(coco):
    path = osp.join(coco, 'annotations', 'instances_val2017_ov_all.json')
    with pytest.raises(
            ValueError,
            match=r'instances_val2017_ov_all\.json has annotations of novel '
            r"classes: 2 of class 'airplane', 1 of class 'cat'"):
        _ov_coco(coco, osp.basename(path))
    assert osp.isfile(path)


def test_ov_coco_class_order_and_missing_classes(coco):
    reordered = (OV_COCO_CLASSES[1], OV_COCO_CLASSES[0]) + OV_COCO_CLASSES[2:]
    with pytest.raises(
            ValueError,
            match="lists the classes in the order "
            r"\['person', 'bicycle'"):
        _ov_coco(coco, metainfo=dict(classes=reordered))
    with pytest.raises(
            ValueError,
            match='base_classes \\+ novel_classes '
            r"must be the classes .*\['giraffe'\] are not among"):
        _ov_coco(
            coco,
            metainfo=dict(
                classes=tuple(c for c in OV_COCO_CLASSES if c != 'giraffe')))
    assert 'giraffe' in COCO_CLASSES


def test_ov_coco_refuses_a_file_missing_a_class(coco):
    path = osp.join(coco, 'annotations', 'instances_train2017_ov_base.json')
    with open(path) as f:
        data = json.load(f)
    data['categories'] = [
        c for c in data['categories'] if c['name'] != 'scissors'
    ]
    broken = osp.join(coco, 'annotations', 'broken.json')
    with open(broken, 'w') as f:
        json.dump(data, f)
    with pytest.raises(
            ValueError,
            match=r"broken\.json: the categories \['scissors'\] "
            'are missing'):
        _ov_coco(coco, 'broken.json')
    os.remove(broken)
