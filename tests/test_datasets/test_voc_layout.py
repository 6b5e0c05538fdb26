# Copyright (c) mmkd contributors. All rights reserved.
import os.path as osp

import pytest
from voc_standins import write_voc_layout

from mmkd.datasets import VOCLayoutDataset


def dataset(folder, split='trainval', **kwargs):
    kwargs.setdefault('metainfo', dict(classes=('car', )))
    return VOCLayoutDataset(
        data_root=folder,
        ann_file=f'ImageSets/Main/{split}.txt',
        data_prefix=dict(sub_data_root=''),
        pipeline=[],
        **kwargs)


def test_png_images_and_boxes(tmp_path):
    folder = write_voc_layout(str(tmp_path), ('trainval', ), ('car', ),
                              num=2, size=(40, 60), suffix='.png')
    ds = dataset(folder, img_suffix='.png')
    assert len(ds) == 2
    info = ds[0]
    assert info['img_path'] == osp.join(folder, 'JPEGImages',
                                        'trainval_0000.png')
    assert osp.isfile(info['img_path'])
    assert (info['height'], info['width']) == (40, 60)
    # three boxes per image, VOC's 1-based corners made 0-based
    assert len(info['instances']) == 3
    assert all(i['bbox_label'] == 0 for i in info['instances'])


def test_unknown_class_is_an_error_unless_skipped(tmp_path):
    folder = write_voc_layout(str(tmp_path), ('trainval', ),
                              ('car', 'person'), num=3, seed=1)
    with pytest.raises(ValueError, match=r"trainval_000\d\.xml.*'person' is "
                       r"not one of the classes \('car',\).*unknown_classes"):
        dataset(folder)
    ds = dataset(folder, unknown_classes='skip')
    kept = [i for k in range(len(ds)) for i in ds[k]['instances']]
    assert 0 < len(kept) < 9  # only the cars


def test_missing_files_are_named(tmp_path):
    folder = write_voc_layout(str(tmp_path), ('trainval', ), ('car', ))
    with pytest.raises(FileNotFoundError, match='ImageSets/Main/test.txt'):
        dataset(folder, split='test')
    with open(osp.join(folder, 'ImageSets', 'Main', 'trainval.txt'),
              'a') as f:
        f.write('absent_id\n')
    with pytest.raises(FileNotFoundError,
                       match=r"Annotations/absent_id\.xml.*trainval\.txt"):
        dataset(folder)
