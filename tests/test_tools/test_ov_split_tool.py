# Copyright (c) mmkd contributors. All rights reserved.
"""tools/dataset_converters/ov_split.py writes explicit open-vocabulary
splits: train keeps the base annotations (and every image), val those of
all OV classes, both list every OV class."""
import importlib.util
import json
import os.path as osp

import pytest
from mmkd_testing import ROOT
from ov_coco_standins import CAT_ID, COCO_CLASSES, fake_coco, write_fake_coco

from mmkd.datasets import make_digit_scenes
from mmkd.datasets.open_vocabulary import (DIGIT_SCENES_NOVEL_CLASSES,
                                           OV_COCO_BASE_CLASSES,
                                           OV_COCO_CLASSES,
                                           OV_COCO_NOVEL_CLASSES)


def load_tool():
    spec = importlib.util.spec_from_file_location(
        'ov_split', osp.join(ROOT, 'tools', 'dataset_converters',
                             'ov_split.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load(path):
    with open(path) as f:
        return json.load(f)


def test_ov_coco_classes_are_the_48_17_split_in_coco_order():
    assert len(OV_COCO_BASE_CLASSES) == 48
    assert len(OV_COCO_NOVEL_CLASSES) == 17
    ov = set(OV_COCO_BASE_CLASSES) | set(OV_COCO_NOVEL_CLASSES)
    assert len(ov) == 65
    assert OV_COCO_CLASSES == tuple(c for c in COCO_CLASSES if c in ov)
    # the 15 classes in neither set (OVR-CNN's list)
    assert set(COCO_CLASSES) - ov == {
        'traffic light', 'fire hydrant', 'stop sign', 'parking meter',
        'sports ball', 'baseball bat', 'baseball glove', 'tennis racket',
        'wine glass', 'hot dog', 'potted plant', 'dining table', 'cell phone',
        'teddy bear', 'hair drier'
    }


def test_coco_split(tmp_path, capsys):
    root = write_fake_coco(str(tmp_path / 'coco'))
    meta = load_tool().main(['coco', root])
    ann_dir = osp.join(root, 'annotations')
    train = _load(osp.join(ann_dir, 'instances_train2017_ov_base.json'))
    val = _load(osp.join(ann_dir, 'instances_val2017_ov_all.json'))
    source = fake_coco()
    # every image kept, also image 2 (novel only) and 4 (none)
    for split in (train, val):
        assert split['images'] == source['images']
        assert [c['name']
                for c in split['categories']] == list(OV_COCO_CLASSES)
        # COCO's category ids are kept
        assert {c['id']
                for c in split['categories']
                } == {CAT_ID[c]
                      for c in OV_COCO_CLASSES}
    names = {v: k for k, v in CAT_ID.items()}
    assert [(a['image_id'], names[a['category_id']])
            for a in train['annotations']] == [(1, 'person'), (3, 'bicycle')]
    assert [(a['image_id'], names[a['category_id']])
            for a in val['annotations']] == [(1, 'person'), (1, 'airplane'),
                                             (2, 'airplane'), (3, 'cat'),
                                             (3, 'bicycle')]
    assert train['info']['ov_split']['annotations'] == 'base'
    assert val['info']['ov_split']['novel_classes'] == list(
        OV_COCO_NOVEL_CLASSES)
    assert meta['train']['removed'] == {
        'airplane': 2,
        'cat': 1,
        'traffic light': 1
    }
    assert meta['val']['removed'] == {'traffic light': 1}
    summary = _load(osp.join(ann_dir, 'ov_split.json'))
    assert summary['novel_ids'] == [CAT_ID[c] for c in OV_COCO_NOVEL_CLASSES]
    assert summary['train']['file'] == 'instances_train2017_ov_base.json'
    assert 'removed' in capsys.readouterr().out


def test_coco_split_names_a_missing_class(tmp_path):
    root = write_fake_coco(str(tmp_path / 'coco'))
    path = osp.join(root, 'annotations', 'instances_val2017.json')
    coco = _load(path)
    coco['categories'] = [
        c for c in coco['categories'] if c['name'] != 'scissors'
    ]
    with open(path, 'w') as f:
        json.dump(coco, f)
    with pytest.raises(
            ValueError,
            match=r"instances_val2017.json: the categories "
            r"\['scissors'\] are missing"):
        load_tool().main(['coco', root])


def test_missing_source_is_named(tmp_path):
    with pytest.raises(
            SystemExit,
            match='instances_train.json does not '
            'exist .*digit_scenes.py'):
        load_tool().main(['digit-scenes', str(tmp_path / 'nothing')])


def test_digit_scenes_split(tmp_path):
    root = make_digit_scenes(
        str(tmp_path / 'ds'), num_train=12, num_val=4, img_size=64)
    load_tool().main(['digit-scenes', root])
    ann_dir = osp.join(root, 'annotations')
    novel_ids = {int(c) + 1 for c in DIGIT_SCENES_NOVEL_CLASSES}
    for split, tag in (('train', 'base'), ('val', 'all')):
        source = _load(osp.join(ann_dir, f'instances_{split}.json'))
        out = _load(osp.join(ann_dir, f'instances_{split}_ov_{tag}.json'))
        assert out['images'] == source['images']
        assert out['categories'] == source['categories']
        if split == 'val':
            assert out['annotations'] == source['annotations']
        else:
            assert out['annotations'] == [
                a for a in source['annotations']
                if a['category_id'] not in novel_ids
            ]
        # the stand-in shows novel digits in both splits
        assert any(a['category_id'] in novel_ids
                   for a in source['annotations'])


def test_lvis_split_by_frequency(tmp_path):
    """lvis: frequent and common classes base, rare ones novel, in the
    file's order; a file without frequencies is refused."""
    root = tmp_path / 'lvis_v1'
    (root / 'annotations').mkdir(parents=True)
    lvis = dict(
        images=[dict(id=1, height=8, width=8, coco_url='x/1.jpg')],
        annotations=[
            dict(id=1, image_id=1, category_id=2, bbox=[0, 0, 4, 4], area=16)
        ],
        categories=[
            dict(id=1, name='ant', frequency='f'),
            dict(id=2, name='bee', frequency='r'),
            dict(id=3, name='cod', frequency='c')
        ])
    for split in ('train', 'val'):
        with open(root / 'annotations' / f'lvis_v1_{split}.json', 'w') as f:
            json.dump(lvis, f)
    meta = load_tool().main(['lvis', str(root)])
    assert (meta['base_classes'], meta['novel_classes']) == (['ant', 'cod'],
                                                             ['bee'])
    assert meta['train']['removed'] == {'bee': 1}
    assert meta['val']['num_annotations'] == 1
    del lvis['categories'][2]['frequency']
    with open(root / 'annotations' / 'lvis_v1_train.json', 'w') as f:
        json.dump(lvis, f)
    with pytest.raises(
            ValueError,
            match=r"lvis_v1_train.json: LVIS categories have a frequency in "
            r"\('f', 'c', 'r'\); \[\('cod', None\)\]"):
        load_tool().main(['lvis', str(root)])
