# Copyright (c) mmkd contributors. All rights reserved.
"""Tiny stand-ins of the domain-adaptive detection benchmarks in the
Pascal VOC layout they are distributed in: ``ImageSets/Main/<split>.txt``,
``Annotations/<id>.xml``, ``JPEGImages/<id><suffix>``."""
import os
import os.path as osp

import numpy as np
from PIL import Image

VOC_CLASSES = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus',
               'car', 'cat', 'chair', 'cow', 'diningtable', 'dog', 'horse',
               'motorbike', 'person', 'pottedplant', 'sheep', 'sofa',
               'train', 'tvmonitor')
CITYSCAPES_CLASSES = ('person', 'rider', 'car', 'truck', 'bus', 'train',
                      'motorcycle', 'bicycle')
WATERCOLOR_CLASSES = ('bicycle', 'bird', 'car', 'cat', 'dog', 'person')


def _xml(img_id, width, height, objects):
    objs = ''.join(
        f'<object><name>{name}</name><pose>Unspecified</pose>'
        f'<truncated>0</truncated><difficult>0</difficult><bndbox>'
        f'<xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax>'
        f'<ymax>{y2}</ymax></bndbox></object>'
        for name, (x1, y1, x2, y2) in objects)
    return (f'<annotation><filename>{img_id}</filename><size>'
            f'<width>{width}</width><height>{height}</height><depth>3'
            f'</depth></size>{objs}</annotation>')


def write_voc_layout(folder, splits, classes, num=2, size=(96, 160),
                     suffix='.jpg', seed=0):
    """Write ``num`` images per split, each with three boxes of random
    ``classes``: bright rectangles on noise, so that boxes have content.

    Returns:
        str: ``folder``.
    """
    rng = np.random.default_rng(seed)
    height, width = size
    for sub in ('ImageSets/Main', 'Annotations', 'JPEGImages'):
        os.makedirs(osp.join(folder, sub), exist_ok=True)
    for split in splits:
        ids = [f'{split}_{i:04d}' for i in range(num)]
        with open(osp.join(folder, 'ImageSets', 'Main', f'{split}.txt'),
                  'w') as f:
            f.write('\n'.join(ids) + '\n')
        for img_id in ids:
            img = rng.integers(0, 80, (height, width, 3), dtype=np.uint8)
            objects = []
            for _ in range(3):
                h = int(rng.integers(16, height // 2))
                w = int(rng.integers(16, width // 2))
                y1 = int(rng.integers(1, height - h))
                x1 = int(rng.integers(1, width - w))
                img[y1:y1 + h, x1:x1 + w] = rng.integers(120, 256, 3)
                objects.append((classes[rng.integers(len(classes))],
                                (x1, y1, x1 + w, y1 + h)))
            Image.fromarray(img).save(
                osp.join(folder, 'JPEGImages', img_id + suffix))
            with open(osp.join(folder, 'Annotations', img_id + '.xml'),
                      'w') as f:
                f.write(_xml(img_id, width, height, objects))
    return folder


def write_cityscape_voc(data_root):
    """``cityscape/VOC2007``: clear ``train_s/test_s`` and foggy
    ``train_t/test_t`` splits, the 8 classes."""
    write_voc_layout(
        osp.join(data_root, 'cityscape', 'VOC2007'),
        ('train_s', 'test_s', 'train_t', 'test_t'), CITYSCAPES_CLASSES)


def write_sim10k_voc(data_root):
    """``sim10k/VOC2012`` trainval: cars among motorbikes and persons."""
    write_voc_layout(
        osp.join(data_root, 'sim10k', 'VOC2012'), ('trainval', ),
        ('car', 'motorbike', 'person'))


def write_kitti_voc(data_root):
    """``kitti/VOC2012`` trainval with PNG images."""
    write_voc_layout(
        osp.join(data_root, 'kitti', 'VOC2012'), ('trainval', ),
        ('car', 'pedestrian'), suffix='.png')


def write_vocdevkit(data_root):
    """``VOCdevkit/VOC2007`` trainval/test and ``VOC2012`` trainval."""
    for year, splits in (('VOC2007', ('trainval', 'test')),
                         ('VOC2012', ('trainval', ))):
        write_voc_layout(
            osp.join(data_root, 'VOCdevkit', year), splits, VOC_CLASSES)


def write_clipart(data_root):
    write_voc_layout(
        osp.join(data_root, 'clipart'), ('train', 'test'), VOC_CLASSES)


def write_watercolor(data_root):
    """Watercolor2k's 6 classes (the model keeps the 20 VOC classes)."""
    write_voc_layout(
        osp.join(data_root, 'watercolor'), ('train', 'test'),
        WATERCOLOR_CLASSES)
