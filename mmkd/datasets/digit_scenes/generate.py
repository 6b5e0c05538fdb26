# Copyright (c) mmkd contributors. All rights reserved.
"""Render DigitScenes: real handwritten digit scans pasted on textured
canvases, written as an mmseg folder dataset plus COCO instance json.

Layout of ``root`` after :func:`make_digit_scenes`::

    img_dir/{train,val}/<id>.png       RGB canvases
    ann_dir/{train,val}/<id>.png       uint8 labels, 0 = background,
                                       k + 1 = digit k
    annotations/instances_{train,val}.json
    meta.json                          generation stamp, written last
"""
import functools
import json
import os
import os.path as osp
from typing import List, Tuple

import cv2
import numpy as np
from mmengine.logging import print_log
from pycocotools import mask as mask_utils

VERSION = 1
DIGIT_SCENES_CLASSES = ('background', '0', '1', '2', '3', '4', '5', '6', '7',
                        '8', '9')
DIGIT_SCENES_PALETTE = [[0, 0, 0], [230, 25, 75], [60, 180, 75],
                        [255, 225, 25], [0, 130, 200], [245, 130, 48],
                        [145, 30, 180], [70, 240, 240], [240, 50, 230],
                        [210, 245, 60], [250, 190, 212]]
SPLITS = ('train', 'val')
#: ``'clean'``: the scenes above; ``'shifted'``: a target domain for domain
#: adaptation (other background textures, colour cast, fog, sensor noise)
DOMAINS = ('clean', 'shifted')

_POOL_SEED = 0  # fixed, so every generated variant shares the unseen scans
_VAL_FRACTION = 0.2
_NUM_DIGITS = (2, 5)  # per canvas, inclusive
_DIGIT_PX = (20, 48)  # glyph side at a 128 px canvas, scaled with img_size
_MASK_THR = 0.35  # of the glyph's peak intensity
_ALPHA_FLOOR = 0.15  # intensity blended as fully transparent
_MAX_OVERLAP = 0.2  # box intersection / smaller box area
_MIN_CONTRAST = 0.4  # luma difference between digit and local background
_PLACE_TRIES = 20


@functools.lru_cache(maxsize=1)
def load_digit_scans() -> Tuple[np.ndarray, np.ndarray]:
    """The 1797 8x8 scans of ``sklearn.datasets.load_digits``.

    Returns:
        tuple[np.ndarray, np.ndarray]: float32 images of shape (1797, 8, 8)
        scaled to [0, 1], and their int64 digit labels.
    """
    from sklearn.datasets import load_digits
    digits = load_digits()
    images = (digits.images / 16.).astype(np.float32)
    return images, digits.target.astype(np.int64)


def digit_pool_split() -> Tuple[np.ndarray, np.ndarray]:
    """Split scan indices into disjoint train / val pools (80 / 20).

    The split is a fixed seeded permutation, independent of the canvas seed,
    so val canvases of any generated variant only show scans that no train
    canvas shows.

    Returns:
        tuple[np.ndarray, np.ndarray]: sorted train and val scan indices.
    """
    num = len(load_digit_scans()[0])
    perm = np.random.default_rng(_POOL_SEED).permutation(num)
    num_val = int(round(num * _VAL_FRACTION))
    return np.sort(perm[num_val:]), np.sort(perm[:num_val])


@functools.lru_cache(maxsize=4)
def _grid(size: int) -> Tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / max(size - 1, 1)
    return yy, xx


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114], np.float32)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A colour gradient + low-frequency noise (+ maybe stripes), in [0, 1]."""
    yy, xx = _grid(size)
    theta = rng.uniform(0, 2 * np.pi)
    ramp = xx * np.cos(theta) + yy * np.sin(theta)
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    c0, c1 = rng.uniform(0, 1, (2, 3)).astype(np.float32)
    img = c0 + (c1 - c0) * ramp[..., None]
    cells = int(rng.integers(3, 7))
    coarse = rng.normal(0, 1, (cells, cells, 3)).astype(np.float32)
    img += rng.uniform(0.05, 0.2) * cv2.resize(
        coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    if rng.random() < 0.5:
        phi = rng.uniform(0, np.pi)
        cycles = rng.uniform(2, 8)
        wave = np.sin(2 * np.pi * cycles *
                      (xx * np.cos(phi) + yy * np.sin(phi)) +
                      rng.uniform(0, 2 * np.pi))
        tint = rng.uniform(-1, 1, 3).astype(np.float32)
        img += rng.uniform(0.03, 0.12) * wave[..., None] * tint
    img += rng.normal(0, 0.015, img.shape).astype(np.float32)
    return np.clip(img, 0, 1)


def _textured_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """The shifted domain's backgrounds: fine woven gratings and blotches in
    muted colours, unlike the clean domain's smooth gradients."""
    yy, xx = _grid(size)
    base = rng.uniform(0.25, 0.6, 3).astype(np.float32)
    img = np.broadcast_to(base, (size, size, 3)).copy()
    for _ in range(int(rng.integers(2, 4))):
        phi = rng.uniform(0, np.pi)
        cycles = rng.uniform(10, 24)  # finer than the clean stripes
        wave = np.sin(2 * np.pi * cycles *
                      (xx * np.cos(phi) + yy * np.sin(phi)))
        img += rng.uniform(0.05, 0.12) * wave[..., None] * rng.uniform(
            -1, 1, 3).astype(np.float32)
    blotches = rng.normal(0, 1, (8, 8, 1)).astype(np.float32)
    img += 0.1 * cv2.resize(blotches, (size, size),
                            interpolation=cv2.INTER_CUBIC)[..., None]
    return np.clip(img, 0, 1)


def _degrade(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """Colour cast, fog (contrast loss towards a light grey) and noise."""
    cast = np.eye(3, dtype=np.float32) + rng.uniform(-0.15, 0.15, (3, 3))
    img = img @ cast.T.astype(np.float32) + rng.uniform(-0.08, 0.08, 3)
    keep = rng.uniform(0.45, 0.65)
    fog = rng.uniform(0.6, 0.85)
    img = keep * img + (1 - keep) * fog
    img = img + rng.normal(0, rng.uniform(0.03, 0.06), img.shape)
    return np.clip(img, 0, 1).astype(np.float32)


def _contrasting_colour(rng: np.random.Generator,
                        local: np.ndarray) -> np.ndarray:
    cands = rng.uniform(0, 1, (8, 3)).astype(np.float32)
    ok = np.abs(_luma(cands) - _luma(local)) >= _MIN_CONTRAST
    if ok.any():
        return cands[np.argmax(ok)]
    # no random pick contrasts enough: fall back to a dark / light shade
    low, high = (0, 0.15) if _luma(local) > 0.5 else (0.85, 1)
    return rng.uniform(low, high, 3).astype(np.float32)


def _overlap(a: tuple, b: tuple) -> float:
    """Intersection of two xywh boxes over the smaller box's area."""
    iw = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    ih = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(iw, 0) * max(ih, 0) / min(a[2] * a[3], b[2] * b[3])


def _place(rng: np.random.Generator, size: int, boxes: List[tuple]):
    lo, hi = (max(6, round(p * size / 128)) for p in _DIGIT_PX)
    for _ in range(_PLACE_TRIES):
        h = int(rng.integers(lo, hi + 1))
        w = int(np.clip(round(h * rng.uniform(0.8, 1.2)), 4, size))
        h = min(h, size)
        x = int(rng.integers(0, size - w + 1))
        y = int(rng.integers(0, size - h + 1))
        if all(_overlap(box, (x, y, w, h)) <= _MAX_OVERLAP for box in boxes):
            return x, y, w, h
    return None


def render_canvas(rng: np.random.Generator,
                  size: int,
                  pool: np.ndarray,
                  domain: str = 'clean') -> Tuple[np.ndarray, np.ndarray,
                                                  list]:
    """Render one canvas.

    Args:
        rng (np.random.Generator): The only source of randomness.
        size (int): Canvas side in pixels.
        pool (np.ndarray): Scan indices the digits are drawn from.
        domain (str): One of :data:`DOMAINS`. The shifted domain draws the
            digits the same way on other backgrounds, then degrades the
            whole canvas; labels are unaffected.

    Returns:
        tuple: uint8 RGB image (size, size, 3), uint8 label map (size, size)
        and a list of instances ``dict(label, scan_id, mask)`` whose bool
        masks are disjoint and match the label map.
    """
    if domain not in DOMAINS:
        raise ValueError(f'domain must be one of {DOMAINS}, got {domain!r}')
    scans, targets = load_digit_scans()
    img = (_background(rng, size)
           if domain == 'clean' else _textured_background(rng, size))
    inst = np.zeros((size, size), np.int32)  # 0 = none, i + 1 = digit i
    boxes, scan_ids = [], []
    for _ in range(int(rng.integers(_NUM_DIGITS[0], _NUM_DIGITS[1] + 1))):
        box = _place(rng, size, boxes)
        if box is None:
            continue
        x, y, w, h = box
        scan_id = int(rng.choice(pool))
        glyph = cv2.resize(
            scans[scan_id], (w, h), interpolation=cv2.INTER_LINEAR)
        intensity = glyph / max(float(glyph.max()), 1e-6)
        # faint scan background (1-2 of 16 grey levels) stays transparent,
        # so no box-shaped halo gives the glyph away
        alpha = np.clip((intensity - _ALPHA_FLOOR) / (1 - _ALPHA_FLOOR), 0, 1)
        patch = img[y:y + h, x:x + w]
        colour = _contrasting_colour(rng, patch.mean(axis=(0, 1)))
        patch += alpha[..., None] * (colour - patch)  # writes into img
        inst[y:y + h, x:x + w][intensity > _MASK_THR] = len(boxes) + 1
        boxes.append(box)
        scan_ids.append(scan_id)

    min_area = max(4, round(16 * (size / 128)**2))
    lut = np.zeros(len(boxes) + 1, np.uint8)
    instances = []
    for i, ((x, y, w, h), scan_id) in enumerate(zip(boxes, scan_ids)):
        mask = np.zeros((size, size), bool)
        mask[y:y + h, x:x + w] = inst[y:y + h, x:x + w] == i + 1
        if mask.sum() < min_area:  # occluded away: its pixels are background
            continue
        lut[i + 1] = targets[scan_id] + 1
        instances.append(
            dict(label=int(targets[scan_id]), scan_id=scan_id, mask=mask))
    if domain == 'shifted':
        img = _degrade(rng, img)
    img_u8 = np.round(img * 255).astype(np.uint8)
    return img_u8, lut[inst], instances


def _coco_annotation(mask: np.ndarray) -> dict:
    """bbox, area, RLE and an inner point of one bool mask."""
    ys, xs = np.nonzero(mask)
    x0, y0 = int(xs.min()), int(ys.min())
    # the mask pixel closest to the centroid is inside the mask by definition
    k = int(np.argmin((xs - xs.mean())**2 + (ys - ys.mean())**2))
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle['counts'] = rle['counts'].decode('ascii')
    return dict(
        bbox=[x0, y0, int(xs.max()) - x0 + 1,
              int(ys.max()) - y0 + 1],
        area=int(mask.sum()),
        segmentation=rle,
        point=[int(xs[k]), int(ys[k])],
        iscrowd=0)


def _clear_split(root: str, split: str) -> None:
    for folder in ('img_dir', 'ann_dir'):
        d = osp.join(root, folder, split)
        if osp.isdir(d):
            for name in os.listdir(d):
                if name.endswith('.png'):
                    os.remove(osp.join(d, name))


def _write_split(root: str,
                 split: str,
                 num: int,
                 img_size: int,
                 seed: int,
                 pool: np.ndarray,
                 domain: str = 'clean') -> int:
    _clear_split(root, split)
    img_dir = osp.join(root, 'img_dir', split)
    ann_dir = osp.join(root, 'ann_dir', split)
    os.makedirs(img_dir, exist_ok=True)
    os.makedirs(ann_dir, exist_ok=True)
    images, annotations = [], []
    split_code = SPLITS.index(split)
    for idx in range(num):
        # one stream per canvas: a canvas does not depend on the counts
        stream = [seed, split_code, idx]
        if domain != 'clean':  # other scenes than the clean domain's
            stream.append(DOMAINS.index(domain))
        rng = np.random.default_rng(stream)
        img, seg, instances = render_canvas(rng, img_size, pool, domain)
        name = f'{idx:05d}.png'
        cv2.imwrite(osp.join(img_dir, name), img[..., ::-1])
        cv2.imwrite(osp.join(ann_dir, name), seg)
        images.append(
            dict(id=idx + 1, file_name=name, height=img_size, width=img_size))
        for ins in instances:
            annotations.append(
                dict(
                    id=len(annotations) + 1,
                    image_id=idx + 1,
                    category_id=ins['label'] + 1,
                    scan_id=ins['scan_id'],
                    **_coco_annotation(ins['mask'])))
    categories = [
        dict(id=k + 1, name=name, supercategory='digit')
        for k, name in enumerate(DIGIT_SCENES_CLASSES[1:])
    ]
    coco = dict(
        info=dict(description=f'DigitScenes {split}', version=VERSION),
        images=images,
        annotations=annotations,
        categories=categories)
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    with open(osp.join(root, 'annotations', f'instances_{split}.json'),
              'w') as f:
        json.dump(coco, f)
    return len(annotations)


def _stamp(num_train: int,
           num_val: int,
           img_size: int,
           seed: int,
           domain: str = 'clean') -> dict:
    return dict(
        dataset='DigitScenes',
        version=VERSION,
        num_train=num_train,
        num_val=num_val,
        img_size=img_size,
        seed=seed,
        domain=domain)


def read_stamp(root: str):
    """The generation params in ``root/meta.json``, or None if absent."""
    path = osp.join(root, 'meta.json')
    if not osp.isfile(path):
        return None
    with open(path) as f:
        meta = json.load(f)
    # sets written before domains existed are clean
    return {k: meta.get(k, 'clean' if k == 'domain' else None)
            for k in _stamp(0, 0, 0, 0)}


def make_digit_scenes(root: str,
                      num_train: int = 800,
                      num_val: int = 200,
                      img_size: int = 128,
                      seed: int = 0,
                      domain: str = 'clean') -> str:
    """Generate DigitScenes into ``root`` unless it is already there.

    Idempotent: if ``root/meta.json`` records the same parameters nothing is
    written; otherwise both splits are (re)generated, stale canvases
    removed, and ``meta.json`` is written last.

    Args:
        root (str): Output directory, created if missing.
        num_train (int): Train canvases. Defaults to 800.
        num_val (int): Val canvases. Defaults to 200.
        img_size (int): Canvas side in pixels. Defaults to 128.
        seed (int): Canvas seed; the scan pools do not depend on it.
            Defaults to 0.
        domain (str): ``'clean'`` or ``'shifted'`` (:data:`DOMAINS`): the
            target domain of domain-adaptation experiments, with other
            scenes than the clean domain's for the same seed. Defaults to
            ``'clean'``.

    Returns:
        str: ``root``.
    """
    for name, value, low in (('num_train', num_train, 1),
                             ('num_val', num_val, 1), ('img_size', img_size,
                                                       32)):
        if not isinstance(value, int) or value < low:
            raise ValueError(f'{name} must be an int >= {low}, got {value!r}')
    if domain not in DOMAINS:
        raise ValueError(f'domain must be one of {DOMAINS}, got {domain!r}')
    stamp = _stamp(num_train, num_val, img_size, int(seed), domain)
    if read_stamp(root) == stamp:
        return root
    os.makedirs(root, exist_ok=True)
    meta_path = osp.join(root, 'meta.json')
    if osp.exists(meta_path):
        os.remove(meta_path)  # a half-written set must not look complete
    train_pool, val_pool = digit_pool_split()
    num_instances = {}
    for split, num, pool in zip(SPLITS, (num_train, num_val),
                                (train_pool, val_pool)):
        num_instances[split] = _write_split(root, split, num, img_size,
                                            int(seed), pool, domain)
    meta = dict(
        stamp,
        classes=list(DIGIT_SCENES_CLASSES),
        palette=DIGIT_SCENES_PALETTE,
        num_instances=num_instances)
    with open(meta_path, 'w') as f:
        json.dump(meta, f, indent=2)
    print_log(
        f'DigitScenes: wrote {num_train} train / {num_val} val {domain} '
        f'canvases ({img_size}px, seed {seed}) to {root}',
        logger='current')
    return root
