# Copyright (c) mmkd contributors. All rights reserved.
"""Isolated DigitScenes digits with captions, to train and score a small
CLIP (the open-vocabulary teacher of OADP and EZAD on DigitScenes).

CLIP knows the novel classes' names too: its data are the generator's full
annotations (``annotations/instances_{train,val}.json``, all ten digits),
not the OV training split, which drops the novel digits.
"""
import json
import os.path as osp
from typing import Dict, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from mmkd.models.clip import crop_image, resize_image, to_rgb_tensor
from ..digit_scenes.generate import DIGIT_SCENES_CLASSES

__all__ = [
    'DIGIT_CLIP_TEMPLATE', 'DIGIT_PROMPT_NAMES', 'DIGIT_WORDS',
    'DigitCropDataset', 'digit_crop_box'
]

DIGIT_WORDS = ('zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven',
               'eight', 'nine')
#: what the prompts call the classes '0' ... '9': 'digit zero', ...
DIGIT_PROMPT_NAMES = tuple(f'digit {w}' for w in DIGIT_WORDS)
#: the teacher's own prompt: 'a photo of the digit seven.'
DIGIT_CLIP_TEMPLATE = 'a photo of the {}.'


def digit_crop_box(
    bbox: Sequence[float], scale: float,
    shift: Tuple[float, float] = (0., 0.)) -> Tuple[int, ...]:
    """The square crop of a digit: side ``scale`` times the box's longer
    side, centred on the box, moved by ``shift`` (fractions of the side).

    Args:
        bbox (Sequence[float]): The digit's COCO box ``(x, y, w, h)``.
        scale (float): Crop side over the box's longer side (>= 1 keeps the
            whole digit when not shifted).
        shift (tuple[float, float]): Offset of the centre along x and y.

    Returns:
        tuple[int, ...]: The integer box ``(x1, y1, x2, y2)``, at least one
        pixel wide; it may leave the image (black there).
    """
    x, y, w, h = (float(v) for v in bbox)
    side = max(scale * max(w, h), 1.)
    cx = x + w / 2 + shift[0] * side
    cy = y + h / 2 + shift[1] * side
    x1, y1 = int(round(cx - side / 2)), int(round(cy - side / 2))
    side = max(int(round(side)), 1)
    return x1, y1, x1 + side, y1 + side


class DigitCropDataset(Dataset):
    """The digits of a DigitScenes split, each a square crop resized to
    ``size``, with a caption naming it.

    Item ``i`` is ``dict(img=uint8 RGB tensor (3, size, size), label=int,
    text=str)``. The crop is :func:`digit_crop_box` of the digit's box
    (black where it leaves the canvas, as OAKE's object crops); the caption
    is a template of ``templates`` filled with the class's prompt name
    (``'a photo of the digit seven.'``). With a ``crop_scale`` range,
    ``jitter`` or several templates, the draws of item ``i`` in epoch ``e``
    come from the seed ``(seed, e, i)``: the same whatever the order of
    access (:meth:`set_epoch` sets ``e``).

    Args:
        data_root (str): DigitScenes root.
        split (str): ``'train'`` or ``'val'``: the images of
            ``img_dir/<split>/``. Defaults to ``'train'``.
        ann_file (str, optional): COCO file, relative to ``data_root``.
            Defaults to ``annotations/instances_<split>.json``, the
            generator's full annotations; an OV split with the base
            classes only is refused.
        size (int): Side of the crops (the tower's input). Defaults to 224.
        crop_scale (float | tuple[float, float]): Crop side over the
            digit's longer side, or a range drawn from uniformly.
            Defaults to 2.
        jitter (float): Largest shift of the crop's centre, as a fraction
            of its side, drawn uniformly per axis. Defaults to 0.
        templates (Sequence[str]): Caption templates with one ``{}``, drawn
            uniformly. Defaults to ``(DIGIT_CLIP_TEMPLATE, )``.
        classes (Sequence[str]): Category names in label order. Defaults
            to the ten digits.
        prompt_names (Sequence[str]): What captions call each class.
            Defaults to :data:`DIGIT_PROMPT_NAMES`.
        seed (int): Seed of the draws. Defaults to 0.
        fast_resize (bool): Resize with OpenCV (area when shrinking,
            bilinear when enlarging), ten times cheaper, for training
            crops; otherwise as CLIP's preprocessing and OAKE (bicubic,
            antialiased, :func:`~mmkd.models.clip.resize_image`). Defaults
            to False.
        cache_images (bool): Keep the decoded canvases in memory. Defaults
            to False.
    """

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 ann_file: Optional[str] = None,
                 size: int = 224,
                 crop_scale: Union[float, Tuple[float, float]] = 2.,
                 jitter: float = 0.,
                 templates: Sequence[str] = (DIGIT_CLIP_TEMPLATE, ),
                 classes: Sequence[str] = DIGIT_SCENES_CLASSES[1:],
                 prompt_names: Sequence[str] = DIGIT_PROMPT_NAMES,
                 seed: int = 0,
                 fast_resize: bool = False,
                 cache_images: bool = False) -> None:
        if len(prompt_names) != len(classes):
            raise ValueError(f'DigitCropDataset: {len(prompt_names)} '
                             f'prompt_names for {len(classes)} classes')
        bad = [t for t in templates if t.count('{}') != 1]
        if bad or not templates:
            raise ValueError('DigitCropDataset: templates need exactly one '
                             f'"{{}}" each: {list(bad)}')
        scales = crop_scale if isinstance(crop_scale,
                                          (tuple, list)) else (crop_scale,
                                                               crop_scale)
        if len(scales) != 2 or not 0 < scales[0] <= scales[1]:
            raise ValueError('DigitCropDataset: crop_scale must be a '
                             'positive number or a range (low, high), got '
                             f'{crop_scale!r}')
        self.data_root = data_root
        self.split = split
        self.ann_file = osp.join(
            data_root, ann_file or f'annotations/instances_{split}.json')
        self.img_dir = osp.join(data_root, 'img_dir', split)
        self.size = size
        self.crop_scale = tuple(float(s) for s in scales)
        self.jitter = float(jitter)
        self.templates = tuple(templates)
        self.classes = tuple(classes)
        self.prompt_names = tuple(prompt_names)
        self.seed = seed
        self.epoch = 0
        self.fast_resize = fast_resize
        self.cache = {} if cache_images else None
        for path in (self.ann_file, self.img_dir):
            if not osp.exists(path):
                raise FileNotFoundError(
                    f'DigitCropDataset: {path!r} does not exist; generate '
                    'DigitScenes first (python tools/dataset_converters/'
                    f'digit_scenes.py {data_root} --img-size 448)')
        self.items = self._load()

    def _load(self) -> list:
        with open(self.ann_file) as f:
            coco = json.load(f)
        what = f'DigitCropDataset: {self.ann_file}'
        for key in ('images', 'annotations', 'categories'):
            if key not in coco:
                raise KeyError(f'{what} has no {key!r}: not a COCO file')
        split = (coco.get('info') or {}).get('ov_split') or {}
        if split.get('annotations') == 'base':
            raise ValueError(
                f'{what} is an open-vocabulary split without the novel '
                f'classes {split.get("novel_classes")}; CLIP learns all '
                'classes: read the generator\'s full annotations '
                f'(annotations/instances_{self.split}.json)')
        names = {c['id']: c['name'] for c in coco['categories']}
        unknown = sorted(set(names.values()) - set(self.classes))
        if unknown:
            raise ValueError(f'{what} has categories {unknown} outside the '
                             f'classes {list(self.classes)}')
        files = {img['id']: img['file_name'] for img in coco['images']}
        items = []
        for ann in coco['annotations']:
            if ann.get('iscrowd', 0):
                continue
            if ann['image_id'] not in files:
                raise KeyError(f'{what}: annotation {ann["id"]} is of image '
                               f'id {ann["image_id"]}, which is not listed')
            if ann['category_id'] not in names:
                raise KeyError(f'{what}: annotation {ann["id"]} has the '
                               f'unknown category id {ann["category_id"]}')
            items.append(
                dict(
                    img_path=osp.join(self.img_dir, files[ann['image_id']]),
                    bbox=tuple(ann['bbox']),
                    label=self.classes.index(names[ann['category_id']])))
        return items

    def __len__(self) -> int:
        return len(self.items)

    @property
    def labels(self) -> Tensor:
        """The label of each item (N,)."""
        return torch.tensor([item['label'] for item in self.items])

    def class_counts(self) -> Dict[str, int]:
        """The number of digits of each class."""
        counts = torch.bincount(self.labels, minlength=len(self.classes))
        return dict(zip(self.classes, counts.tolist()))

    def set_epoch(self, epoch: int) -> None:
        """Draw the crops and captions of epoch ``epoch``."""
        self.epoch = epoch

    def _image(self, path: str) -> Tensor:
        if self.cache is not None and path in self.cache:
            return self.cache[path]
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f'DigitCropDataset: cannot read the '
                                    f'image {path!r} (listed in '
                                    f'{self.ann_file})')
        image = to_rgb_tensor(image, 'bgr')
        if self.cache is not None:
            self.cache[path] = image
        return image

    def _resize(self, crop: Tensor) -> Tensor:
        if not self.fast_resize:
            return resize_image(crop, (self.size, self.size))
        shrink = crop.shape[-1] > self.size
        out = cv2.resize(
            crop.permute(1, 2, 0).numpy(), (self.size, self.size),
            interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        return torch.from_numpy(out).permute(2, 0, 1).contiguous()

    def __getitem__(self, index: int) -> dict:
        item = self.items[index]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        low, high = self.crop_scale
        scale = rng.uniform(low, high) if high > low else low
        shift = tuple(rng.uniform(-self.jitter, self.jitter, 2)) \
            if self.jitter else (0., 0.)
        template = self.templates[int(rng.integers(len(self.templates)))]
        box = digit_crop_box(item['bbox'], scale, shift)
        crop = crop_image(self._image(item['img_path']), box)
        return dict(
            img=self._resize(crop),
            label=item['label'],
            text=template.format(self.prompt_names[item['label']]))
