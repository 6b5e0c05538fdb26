# Copyright (c) mmkd contributors. All rights reserved.
"""The digit crops and captions DigitScenes' CLIP teacher learns from: the
right boxes and names (novel digits included, from the generator's full
annotations), reproducible draws, and errors naming the file at fault."""
import json
import os.path as osp

import cv2
import pytest
import torch

from mmkd.datasets import make_digit_scenes
from mmkd.datasets.open_vocabulary import (DIGIT_SCENES_NOVEL_CLASSES,
                                           DigitCropDataset,
                                           OVDigitScenesDetDataset,
                                           digit_crop_box)
from mmkd.models.clip import crop_image, resize_image, to_rgb_tensor

SMALL = dict(num_train=6, num_val=3, img_size=64, seed=0)


@pytest.fixture(scope='module')
def digits(tmp_path_factory):
    return make_digit_scenes(str(tmp_path_factory.mktemp('crops')), **SMALL)


def _annotations(root, split):
    with open(osp.join(root, 'annotations', f'instances_{split}.json')) as f:
        coco = json.load(f)
    files = {i['id']: i['file_name'] for i in coco['images']}
    return [(files[a['image_id']], a['bbox'], a['category_id'] - 1)
            for a in coco['annotations']]


def test_crops_are_the_boxes_and_captions_name_all_digits(digits):
    dataset = DigitCropDataset(digits, 'train', size=24, crop_scale=1.5)
    anns = _annotations(digits, 'train')
    assert len(dataset) == len(anns)
    # the novel digits are there, named: CLIP learns all ten names
    assert any(label >= 7 for _, _, label in anns)
    words = ('zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven',
             'eight', 'nine')
    for i, (file_name, bbox, label) in enumerate(anns):
        item = dataset[i]
        assert item['label'] == label
        assert item['text'] == f'a photo of the digit {words[label]}.'
        canvas = to_rgb_tensor(
            cv2.imread(osp.join(digits, 'img_dir', 'train', file_name)))
        x, y, w, h = bbox
        side = round(1.5 * max(w, h))
        x1, y1 = round(x + w / 2 -
                       1.5 * max(w, h) / 2), round(y + h / 2 -
                                                   1.5 * max(w, h) / 2)
        assert digit_crop_box(bbox, 1.5) == (x1, y1, x1 + side, y1 + side)
        expected = resize_image(
            crop_image(canvas, (x1, y1, x1 + side, y1 + side)), (24, 24))
        assert torch.equal(item['img'], expected)
    assert dataset.class_counts()['7'] == sum(a[2] == 7 for a in anns)


def test_crop_box_is_a_centred_square_moved_by_the_shift():
    assert digit_crop_box((0, 0, 10, 6), 2.) == (-5, -7, 15, 13)
    assert digit_crop_box((0, 0, 10, 6), 2., (0.5, 0.)) == (5, -7, 25, 13)


def test_draws_depend_on_seed_epoch_and_index_only(digits):
    kwargs = dict(
        size=16,
        crop_scale=(1.2, 3.),
        jitter=0.2,
        templates=('a {}', 'the {} here'),
        fast_resize=True)
    one = DigitCropDataset(digits, 'train', seed=3, **kwargs)
    two = DigitCropDataset(digits, 'train', seed=3, **kwargs)
    late = [two[i] for i in reversed(range(len(two)))][::-1]
    for i, item in enumerate(late):
        assert torch.equal(one[i]['img'], item['img'])
        assert one[i]['text'] == item['text']
    two.set_epoch(1)
    assert any(not torch.equal(one[i]['img'], two[i]['img'])
               for i in range(len(one)))


def test_novel_free_split_and_missing_files_are_errors(digits, tmp_path):
    # writes annotations/instances_train_ov_base.json (novel digits dropped)
    OVDigitScenesDetDataset(data_root=digits, generate_cfg=SMALL)
    novel = list(DIGIT_SCENES_NOVEL_CLASSES)
    with pytest.raises(
            ValueError,
            match=r'instances_train_ov_base\.json is an open-vocabulary '
            rf'split without the novel classes {novel}'.replace('[', r'\[')):
        DigitCropDataset(
            digits, ann_file='annotations/instances_train_ov_base.json')
    missing = str(tmp_path / 'nowhere')
    with pytest.raises(
            FileNotFoundError,
            match=r"'.*nowhere/annotations/instances_val\.json' does not "
            r'exist; generate DigitScenes first'):
        DigitCropDataset(missing, 'val')
    with pytest.raises(ValueError, match='2 prompt_names for 10 classes'):
        DigitCropDataset(digits, prompt_names=('a', 'b'))
