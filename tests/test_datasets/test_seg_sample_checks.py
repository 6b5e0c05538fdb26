# Copyright (c) mmkd contributors. All rights reserved.
"""Bad segmentation samples fail where they are loaded, naming the file:
label values >= num_classes (other than ignore_index) and images or seg maps
without their counterpart."""
import os
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmkd.datasets import CheckSegLabels, make_digit_scenes
from mmkd.registry import DATASETS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BASE = osp.join(ROOT, 'configs/_base_/datasets/digit_scenes.py')


@pytest.fixture(scope='module')
def clean_root(tmp_path_factory):
    return make_digit_scenes(
        str(tmp_path_factory.mktemp('ds')),
        num_train=3,
        num_val=2,
        img_size=32,
        seed=0)


@pytest.fixture
def root(clean_root, tmp_path):
    """A copy of the generated root that a test may damage."""
    return shutil.copytree(clean_root, str(tmp_path / 'ds'))


def dataset_from_config(root, split='train'):
    """The DigitScenes dataset of the base config, read from ``root``."""
    cfg = Config.fromfile(BASE)[f'{split}_dataloader'].dataset
    cfg.data_root = root
    init_default_scope('mmseg')  # the configs' scope
    return DATASETS.build(cfg)


def write_label(path, value, where=(0, 0)):
    seg = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    seg[where] = value
    cv2.imwrite(path, seg)


@pytest.mark.parametrize('split', ['train', 'val'])
def test_label_out_of_range_names_the_file(root, split):
    seg_map = osp.join(root, 'ann_dir', split, '00001.png')
    write_label(seg_map, 11)
    write_label(seg_map, 40, where=(0, 1))
    dataset = dataset_from_config(root, split)
    dataset[0]  # clean samples load
    with pytest.raises(
            ValueError,
            match=rf"'{seg_map}' has label values \[11, 40\] outside 0-10 "
            r'\(num_classes=11; 255 is ignore_index\)'):
        dataset[1]


def test_ignore_index_is_allowed(root):
    write_label(osp.join(root, 'ann_dir', 'train', '00000.png'), 255)
    assert dataset_from_config(root)[0]['data_samples'].gt_sem_seg.data.max(
    ) == 255


def test_check_seg_labels_transform():
    seg = np.zeros((4, 4), np.uint8)
    seg[0, 0], seg[1, 1] = 2, 255
    check = CheckSegLabels(num_classes=3)
    results = dict(gt_seg_map=seg, seg_map_path='a.png')
    assert check(results) is results
    seg[2, 2] = 3
    with pytest.raises(ValueError, match=r"'a.png' has label values \[3\]"):
        check(results)
    # other dtypes and negative values (e.g. int32 maps after a label map)
    with pytest.raises(ValueError, match=r'label values \[-1, 300\]'):
        check(dict(gt_seg_map=np.array([[0, -1], [300, 255]], np.int32),
                   seg_map_path='b.png'))
    with pytest.raises(ValueError, match='num_classes must be a positive'):
        CheckSegLabels(num_classes=0)


def test_missing_image_named_at_build(root):
    """mmseg lists the images and derives the seg maps: an image removed
    made its labelled sample vanish (2 of 3 trained)."""
    image = osp.join(root, 'img_dir', 'train', '00001.png')
    os.remove(image)
    with pytest.raises(
            FileNotFoundError,
            match=rf"seg map '.*ann_dir/train/00001\.png' has no image "
            rf"'{image}'"):
        dataset_from_config(root)


def test_missing_seg_map_named_at_build(root):
    seg_map = osp.join(root, 'ann_dir', 'val', '00000.png')
    os.remove(seg_map)
    with pytest.raises(
            FileNotFoundError,
            match=rf"image '.*img_dir/val/00000\.png' has no seg map "
            rf"'{seg_map}'"):
        dataset_from_config(root, 'val')


def test_teacher_cache_keys_pipelines_with_the_check():
    """CheckSegLabels changes nothing, so a teacher cache accepts it."""
    from mmkd.models.distillers.teacher_cache import \
        check_cacheable_pipeline
    config = osp.join(
        ROOT, 'configs/cwd/cwd_logits_fcn-r18w32_fcn-r18w8_2k_'
        'digit-scenes-128x128_teacher-cache.py')
    pipeline = Config.fromfile(config).train_dataloader.dataset.pipeline
    assert 'mmkd.CheckSegLabels' in [t['type'] for t in pipeline]
    check_cacheable_pipeline(pipeline)
