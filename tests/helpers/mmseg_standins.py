# Copyright (c) mmkd contributors. All rights reserved.
"""Tiny stand-ins of segmentation datasets in their own folder layouts
(mmseg 1.x), for running the real configs' dataloaders in tests."""
import os
import os.path as osp

import numpy as np
from PIL import Image


def _image_and_labels(rng, height, width, num_labels, ignore=None):
    """A random image and a label map of a few rectangles."""
    img = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    labels = np.full((height, width), rng.integers(num_labels), np.uint8)
    for _ in range(6):
        y, x = rng.integers(0, height - 8), rng.integers(0, width - 8)
        h, w = rng.integers(8, height // 2), rng.integers(8, width // 2)
        labels[y:y + h, x:x + w] = rng.integers(num_labels)
    if ignore is not None:
        labels[:4] = ignore
    return img, labels


def _save(path, array):
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path)


def write_cityscapes(root, num=2, size=(128, 256), seed=0):
    """``leftImg8bit/{split}/<city>/*_leftImg8bit.png`` and
    ``gtFine/{split}/<city>/*_gtFine_labelTrainIds.png`` (19 classes,
    255 = ignore), as mmseg's cityscapes converter writes them."""
    rng = np.random.default_rng(seed)
    for split in ('train', 'val'):
        for i in range(num):
            stem = f'aachen_{i:06d}_000019'
            img, labels = _image_and_labels(rng, *size, 19, ignore=255)
            _save(osp.join(root, 'leftImg8bit', split, 'aachen',
                           f'{stem}_leftImg8bit.png'), img)
            _save(osp.join(root, 'gtFine', split, 'aachen',
                           f'{stem}_gtFine_labelTrainIds.png'), labels)
    return root


def write_ade20k(root, num=2, size=(96, 128), seed=0):
    """``images/{training,validation}/*.jpg`` and
    ``annotations/{training,validation}/*.png`` (0 = other, 1-150 =
    classes; mmseg reduces 0 to ignore)."""
    rng = np.random.default_rng(seed)
    for split in ('training', 'validation'):
        for i in range(num):
            stem = f'ADE_{"train" if split == "training" else "val"}_{i:08d}'
            img, labels = _image_and_labels(rng, *size, 151)
            _save(osp.join(root, 'images', split, f'{stem}.jpg'), img)
            _save(osp.join(root, 'annotations', split, f'{stem}.png'),
                  labels)
    return root


def write_pascal_context(root, num=2, size=(96, 128), seed=0):
    """``JPEGImages/*.jpg``, ``SegmentationClassContext/*.png`` (0 =
    background, 1-59 = classes; reduced to ignore / 0-58) and the split
    files ``ImageSets/SegmentationContext/{train,val}.txt``."""
    rng = np.random.default_rng(seed)
    split_dir = osp.join(root, 'ImageSets', 'SegmentationContext')
    os.makedirs(split_dir, exist_ok=True)
    for split in ('train', 'val'):
        names = [f'2008_{split}{i:04d}' for i in range(num)]
        for name in names:
            img, labels = _image_and_labels(rng, *size, 60)
            _save(osp.join(root, 'JPEGImages', f'{name}.jpg'), img)
            _save(osp.join(root, 'SegmentationClassContext', f'{name}.png'),
                  labels)
        with open(osp.join(split_dir, f'{split}.txt'), 'w') as f:
            f.write('\n'.join(names) + '\n')
    return root


def write_acdc(root, num=1, size=(108, 192), seed=0,
               conditions=('fog', 'night', 'rain', 'snow')):
    """ACDC's layout: ``rgb_anon/<cond>/{split}/<sequence>/*_rgb_anon.png``
    and ``gt/<cond>/{split}/<sequence>/*_gt_labelTrainIds.png``
    (Cityscapes' 19 train ids, 255 = ignore), plus what a reader must
    skip: a reference image (``{split}_ref/*_rgb_ref_anon.png``), the
    label-id and colour maps next to the train ids, and a test image
    without labels. ``size`` keeps ACDC's 9:16 (1080x1920)."""
    rng = np.random.default_rng(seed)
    for cond in conditions:
        seq = f'GOPR{rng.integers(100, 999):04d}'
        for split in ('train', 'val', 'test'):
            for i in range(num):
                stem = f'{seq}_frame_{i:06d}'
                img, labels = _image_and_labels(rng, *size, 19, ignore=255)
                _save(osp.join(root, 'rgb_anon', cond, split, seq,
                               f'{stem}_rgb_anon.png'), img)
                _save(osp.join(root, 'rgb_anon', cond, f'{split}_ref', seq,
                               f'{stem}_ref_rgb_ref_anon.png'), img)
                if split == 'test':
                    continue
                gt = osp.join(root, 'gt', cond, split, seq, stem)
                _save(f'{gt}_gt_labelTrainIds.png', labels)
                _save(f'{gt}_gt_labelIds.png', labels + 7)
                _save(f'{gt}_gt_labelColor.png', img)
    return root


def config_datasets(loader):
    """A dataloader config's datasets (ACDC concatenates its
    conditions)."""
    dataset = loader.dataset
    return dataset.datasets if dataset.type == 'ConcatDataset' else [dataset]


def shrink_seg_config(cfg, data_root, size):
    """Point a config's dataloaders at ``data_root`` and shrink its own
    resizes, crops and padding to ``size`` (h, w); no worker processes."""
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        for dataset in config_datasets(cfg[key]):
            dataset.data_root = data_root
            for t in dataset.pipeline:
                if t['type'] in ('Resize', 'RandomResize'):
                    t['scale'] = (size[1], size[0])
                elif t['type'] == 'RandomCrop':
                    t['crop_size'] = size
        cfg[key].update(num_workers=0, persistent_workers=False)
