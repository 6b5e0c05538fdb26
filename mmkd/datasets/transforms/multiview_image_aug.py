# Copyright (c) mmkd contributors. All rights reserved.
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from mmkd.registry import TRANSFORMS


def _pad4(mat) -> np.ndarray:
    mat = np.asarray(mat, dtype=np.float64)
    full = np.eye(4)
    full[:mat.shape[0], :mat.shape[1]] = mat
    return full


@TRANSFORMS.register_module()
class MultiViewImageResizeCrop(BaseTransform):
    """Resize, crop, flip and rotate every view to one size and update its
    intrinsics, as BEVDepth-style camera detectors augment their images.

    The four steps are one 2D affine map per view, applied with a single
    ``cv2.warpAffine`` (out-of-image pixels become 0) and folded into that
    view's ``cam2img`` (made 4x4), so lifting pixels to rays stays exact;
    ``lidar2img`` is recomputed when ``lidar2cam`` is present.

    Training draws the resize factor from ``resize_range``, the bottom crop
    from ``bottom_crop_range`` (fraction of the resized height kept below
    the crop), a horizontal crop offset, a flip and a rotation per sample
    (all views alike). Test mode resizes by ``max(H_out / H, W_out / W)``,
    crops the top (the sky) and centres horizontally, with no flip or
    rotation.

    Args:
        final_size (tuple[int]): (H, W) of the output images.
        resize_range (tuple[float], optional): Training resize factors.
            Defaults to None (the test-mode factor).
        rotate_range (tuple[float]): Rotation in degrees. Defaults to (0, 0).
        flip_prob (float): Probability of a horizontal flip. Defaults to 0.
        bottom_crop_range (tuple[float]): Defaults to (0, 0).
        test_mode (bool): Deterministic test-time version. Defaults to False.

    Required keys: ``img`` (list of HxWx3 arrays), ``cam2img``.
    Modified keys: ``img``, ``img_shape``, ``cam2img``, ``lidar2img``.
    Added keys: ``img_aug_matrix`` (per view 3x3 pixel affine).
    """

    def __init__(self,
                 final_size: Sequence[int],
                 resize_range: Optional[Sequence[float]] = None,
                 rotate_range: Sequence[float] = (0., 0.),
                 flip_prob: float = 0.,
                 bottom_crop_range: Sequence[float] = (0., 0.),
                 test_mode: bool = False) -> None:
        self.final_size = tuple(int(v) for v in final_size)
        self.resize_range = resize_range
        self.rotate_range = tuple(rotate_range)
        self.flip_prob = flip_prob
        self.bottom_crop_range = tuple(bottom_crop_range)
        self.test_mode = test_mode

    def _sample(self, height: int, width: int) -> Tuple:
        out_h, out_w = self.final_size
        fit = max(out_h / height, out_w / width)
        if self.test_mode or self.resize_range is None:
            resize = fit
        else:
            resize = np.random.uniform(*self.resize_range)
        new_h, new_w = int(height * resize), int(width * resize)
        if self.test_mode:
            crop_h = new_h - out_h
            crop_w = (new_w - out_w) // 2
            return resize, crop_h, crop_w, False, 0.0
        bottom = np.random.uniform(*self.bottom_crop_range)
        crop_h = int((1 - bottom) * new_h) - out_h
        crop_w = int(np.random.uniform(0, max(0, new_w - out_w)))
        flip = np.random.rand() < self.flip_prob
        angle = np.random.uniform(*self.rotate_range)
        return resize, crop_h, crop_w, flip, angle

    def _affine(self, resize: float, crop_h: int, crop_w: int, flip: bool,
                angle: float) -> np.ndarray:
        out_h, out_w = self.final_size
        mat = np.array([[resize, 0, -crop_w], [0, resize, -crop_h],
                        [0, 0, 1]])
        if flip:
            mat = np.array([[-1, 0, out_w - 1], [0, 1, 0], [0, 0, 1]]) @ mat
        if angle:
            rot = np.eye(3)
            rot[:2] = cv2.getRotationMatrix2D(
                ((out_w - 1) / 2, (out_h - 1) / 2), angle, 1.0)
            mat = rot @ mat
        return mat

    def transform(self, results: dict) -> dict:
        imgs = results['img']
        height, width = imgs[0].shape[:2]
        mat = self._affine(*self._sample(height, width))
        out_h, out_w = self.final_size
        results['img'] = [
            cv2.warpAffine(
                img, mat[:2], (out_w, out_h), flags=cv2.INTER_LINEAR)
            for img in imgs
        ]
        aug = np.eye(4)
        aug[:3, :3] = mat
        results['cam2img'] = [aug @ _pad4(k) for k in results['cam2img']]
        if 'lidar2cam' in results:
            results['lidar2img'] = [
                k @ _pad4(e)
                for k, e in zip(results['cam2img'], results['lidar2cam'])
            ]
        results['img_aug_matrix'] = [mat] * len(imgs)
        results['img_shape'] = (out_h, out_w)
        results['pad_shape'] = (out_h, out_w)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(final_size={self.final_size}, '
                f'resize_range={self.resize_range}, rotate_range='
                f'{self.rotate_range}, flip_prob={self.flip_prob}, '
                f'bottom_crop_range={self.bottom_crop_range}, '
                f'test_mode={self.test_mode})')
