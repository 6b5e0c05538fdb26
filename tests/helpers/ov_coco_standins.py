# Copyright (c) mmkd contributors. All rights reserved.
"""A tiny stand-in for COCO 2017's ``instances_*2017.json``: the 80
categories with COCO's non-contiguous ids, a few 32x32 images."""
import json
import os
import os.path as osp

import numpy as np
from mmdet.datasets import CocoDataset

COCO_CLASSES = CocoDataset.METAINFO['classes']
# COCO's category ids skip 12, 26, 29, 30, 45, 66, 68, 69, 71, 83
COCO_IDS = [
    i for i in range(1, 91)
    if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)
]
assert len(COCO_IDS) == len(COCO_CLASSES)
CAT_ID = dict(zip(COCO_CLASSES, COCO_IDS))

#: image id -> class names of its boxes: person and bicycle are base,
#: airplane and cat novel, traffic light in neither set
IMAGES = {
    1: ('person', 'airplane'),
    2: ('airplane', ),
    3: ('traffic light', 'cat', 'bicycle'),
    4: (),
}


def fake_coco(images=None) -> dict:
    """A COCO dict with one 8x8 box per listed class name."""
    images = IMAGES if images is None else images
    anns = []
    for img_id, names in images.items():
        for k, name in enumerate(names):
            anns.append(
                dict(
                    id=len(anns) + 1,
                    image_id=img_id,
                    category_id=CAT_ID[name],
                    bbox=[2 + 10 * k, 2, 8, 8],
                    area=64,
                    iscrowd=0))
    return dict(
        info=dict(description='fake COCO'),
        images=[
            dict(id=i, file_name=f'{i:012d}.jpg', height=32, width=32)
            for i in images
        ],
        annotations=anns,
        categories=[
            dict(id=CAT_ID[c], name=c, supercategory='thing')
            for c in COCO_CLASSES
        ])


def write_fake_coco(root: str, images=None, with_images=False) -> str:
    """``root/annotations/instances_{train,val}2017.json`` (the same
    content; with ``with_images`` the 32x32 jpgs in ``root/train2017`` /
    ``root/val2017``); returns ``root``."""
    import cv2
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    coco = fake_coco(images)
    for split in ('train2017', 'val2017'):
        with open(
                osp.join(root, 'annotations', f'instances_{split}.json'),
                'w') as f:
            json.dump(coco, f)
        if with_images:
            os.makedirs(osp.join(root, split), exist_ok=True)
            for img in coco['images']:
                cv2.imwrite(
                    osp.join(root, split, img['file_name']),
                    np.full((32, 32, 3), 128, np.uint8))
    return root
