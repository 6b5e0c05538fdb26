# Copyright (c) mmkd contributors. All rights reserved.
"""The student's strong view of LPLD: photometric changes and erasing only,
so that it stays pixel-aligned with the teacher's weak view."""
import math
from typing import Sequence, Tuple

import cv2
import mmcv
import numpy as np
from mmcv.transforms import BaseTransform

from mmkd.registry import TRANSFORMS


def _shift_hue(img: np.ndarray, factor: float) -> np.ndarray:
    """Rotate the hue of a uint8 BGR image by ``factor`` of a full turn
    (``mmcv.adjust_hue`` overflows on negative shifts with numpy 2)."""
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV_FULL)
    shift = int(round(factor * 255))
    hsv[..., 0] = ((hsv[..., 0].astype(np.int16) + shift) % 256).astype(
        np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR_FULL)


@TRANSFORMS.register_module()
class LPLDStrongAugment(BaseTransform):
    """Colour jitter, grayscale, Gaussian blur and random erasing of
    ``results['img']`` (uint8, BGR), as the official LPLD strong view
    (torchvision semantics, re-implemented on mmcv/cv2):

    1. with ``jitter_prob``: brightness, contrast and saturation factors
       drawn from ``[1 - x, 1 + x]`` and a hue shift from ``[-h, h]``,
       applied in a random order;
    2. with ``gray_prob``: grayscale (kept as 3 channels);
    3. with ``blur_prob``: Gaussian blur, sigma uniform in ``blur_sigma``;
    4. for each ``(p, scale, ratio)`` of ``erasing``: with probability p, a
       rectangle of ``scale`` times the image area and aspect ratio in
       ``ratio`` (log-uniform) filled with uniform noise (10 tries to fit).

    Boxes and masks are untouched: no pixel moves.

    Note:
        The official code reads BGR images but hands them to torchvision as
        RGB, so its hue and grayscale act on swapped channels; here they act
        on the true colours.

    Args:
        jitter (tuple): Brightness, contrast, saturation, hue.
            Defaults to (0.4, 0.4, 0.4, 0.1).
        jitter_prob (float): Defaults to 0.8.
        gray_prob (float): Defaults to 0.2.
        blur_prob (float): Defaults to 0.5.
        blur_sigma (tuple): Defaults to (0.1, 2.0).
        erasing (sequence): ``(p, (min_area, max_area), (min_ratio,
            max_ratio))`` per erasing. Defaults to the official three.
    """

    def __init__(self,
                 jitter: Tuple[float, float, float, float] = (0.4, 0.4, 0.4,
                                                              0.1),
                 jitter_prob: float = 0.8,
                 gray_prob: float = 0.2,
                 blur_prob: float = 0.5,
                 blur_sigma: Tuple[float, float] = (0.1, 2.0),
                 erasing: Sequence = ((0.7, (0.05, 0.2), (0.3, 3.3)),
                                      (0.5, (0.02, 0.2), (0.1, 6.0)),
                                      (0.3, (0.02, 0.2), (0.05, 8.0)))
                 ) -> None:
        if len(jitter) != 4 or not 0 <= jitter[3] <= 0.5:
            raise ValueError('jitter is (brightness, contrast, saturation, '
                             f'hue) with hue in [0, 0.5], got {jitter}')
        for name, prob in (('jitter_prob', jitter_prob),
                           ('gray_prob', gray_prob), ('blur_prob',
                                                      blur_prob)):
            if not 0 <= prob <= 1:
                raise ValueError(f'{name} must be in [0, 1], got {prob}')
        self.jitter = tuple(jitter)
        self.jitter_prob = jitter_prob
        self.gray_prob = gray_prob
        self.blur_prob = blur_prob
        self.blur_sigma = tuple(blur_sigma)
        self.erasing = [(float(p), tuple(scale), tuple(ratio))
                        for p, scale, ratio in erasing]

    def _color_jitter(self, img: np.ndarray) -> np.ndarray:
        brightness, contrast, saturation, hue = self.jitter
        ops = [
            lambda x: mmcv.adjust_brightness(
                x, np.random.uniform(max(0, 1 - brightness), 1 + brightness)),
            lambda x: mmcv.adjust_contrast(
                x, np.random.uniform(max(0, 1 - contrast), 1 + contrast)),
            lambda x: mmcv.adjust_color(
                x, np.random.uniform(max(0, 1 - saturation), 1 + saturation)),
            lambda x: _shift_hue(x, np.random.uniform(-hue, hue)),
        ]
        for i in np.random.permutation(len(ops)):
            img = ops[i](img)
        return img

    @staticmethod
    def _erase(img: np.ndarray, scale, ratio) -> np.ndarray:
        height, width = img.shape[:2]
        log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
        for _ in range(10):
            area = height * width * np.random.uniform(*scale)
            aspect = math.exp(np.random.uniform(*log_ratio))
            h = int(round(math.sqrt(area * aspect)))
            w = int(round(math.sqrt(area / aspect)))
            if 0 < h < height and 0 < w < width:
                y = np.random.randint(0, height - h + 1)
                x = np.random.randint(0, width - w + 1)
                img = img.copy()
                img[y:y + h, x:x + w] = np.random.randint(
                    0, 256, (h, w) + img.shape[2:], dtype=np.uint8)
                return img
        return img

    def transform(self, results: dict) -> dict:
        img = results['img']
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError('LPLDStrongAugment expects a uint8 BGR image '
                             f'(H, W, 3), got {img.dtype} {img.shape}')
        if np.random.rand() < self.jitter_prob:
            img = self._color_jitter(img)
        if np.random.rand() < self.gray_prob:
            img = mmcv.gray2bgr(mmcv.bgr2gray(img))
        if np.random.rand() < self.blur_prob:
            img = cv2.GaussianBlur(img, (0, 0),
                                   np.random.uniform(*self.blur_sigma))
        for prob, scale, ratio in self.erasing:
            if np.random.rand() < prob:
                img = self._erase(img, scale, ratio)
        results['img'] = np.ascontiguousarray(img)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(jitter={self.jitter}, '
                f'jitter_prob={self.jitter_prob}, gray_prob={self.gray_prob}, '
                f'blur_prob={self.blur_prob}, blur_sigma={self.blur_sigma}, '
                f'erasing={self.erasing})')
