# Copyright (c) mmkd contributors. All rights reserved.
"""CLIP's image preprocessing on tensors.

OpenAI's ``clip.load`` preprocesses a PIL image with torchvision's
``Resize(224, BICUBIC)`` (shorter side to 224), ``CenterCrop(224)``,
``ToTensor`` and ``Normalize`` with CLIP's mean and std. The functions here
do the same on RGB ``uint8`` tensors ``(3, H, W)``: resizing is bicubic with
antialiasing (PyTorch's PIL-like kernel) and rounds back to ``uint8`` as
PIL does, so that the result stays within one grey level of PIL's. Crops
may reach outside the image, which is then black, as ``PIL.Image.crop``.
"""
from typing import Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    'CLIP_MEAN', 'CLIP_STD', 'center_crop', 'center_square_box',
    'clip_normalize', 'clip_preprocess', 'clip_square', 'crop_image',
    'resize_image', 'resize_shorter', 'to_rgb_tensor'
]

#: OpenAI's normalisation, for images scaled to [0, 1]
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def _check_image(image: Tensor, what: str = 'image') -> None:
    if not isinstance(image, Tensor) or image.dim() != 3 or \
            image.shape[0] != 3 or image.dtype != torch.uint8:
        shape = list(image.shape) if isinstance(image, Tensor) else None
        dtype = image.dtype if isinstance(image, Tensor) else type(image)
        raise ValueError(f'{what} must be an RGB uint8 tensor (3, H, W), got '
                         f'{dtype} of shape {shape}')


def to_rgb_tensor(image: Union[np.ndarray, Tensor],
                  channel_order: str = 'bgr') -> Tensor:
    """An ``(H, W, 3)`` ``uint8`` array (mmcv's ``imread`` gives BGR) as the
    RGB tensor ``(3, H, W)`` the functions here take."""
    if channel_order not in ('bgr', 'rgb'):
        raise ValueError(f"channel_order must be 'bgr' or 'rgb', got "
                         f'{channel_order!r}')
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError('expected an (H, W, 3) uint8 image, got '
                         f'{array.dtype} of shape {array.shape}')
    if channel_order == 'bgr':
        array = array[..., ::-1]
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)


def resize_image(image: Tensor, size: Sequence[int]) -> Tensor:
    """Bicubic resize of an RGB ``uint8`` image to ``size`` ``(h, w)``,
    antialiased when shrinking and rounded to ``uint8`` (PIL's
    ``Image.resize(size, BICUBIC)``)."""
    _check_image(image)
    h, w = int(size[0]), int(size[1])
    if h < 1 or w < 1:
        raise ValueError(f'cannot resize an image to {h}x{w}')
    if (h, w) == tuple(image.shape[1:]):
        return image
    out = F.interpolate(
        image[None].float(),
        size=(h, w),
        mode='bicubic',
        align_corners=False,
        antialias=True)[0]
    return out.round_().clamp_(0, 255).to(torch.uint8)


def resize_shorter(image: Tensor, size: int) -> Tensor:
    """Resize so that the shorter side is ``size``, keeping the aspect
    ratio, the longer side rounded down (torchvision's ``Resize(size)``)."""
    _check_image(image)
    h, w = image.shape[1:]
    short, long = (h, w) if h <= w else (w, h)
    if short == size:
        return image
    new_long = int(size * long / short)
    return resize_image(image, (size, new_long) if h <= w else
                        (new_long, size))


def crop_image(image: Tensor, box: Sequence[int]) -> Tensor:
    """The pixels of an integer ``(x1, y1, x2, y2)`` box, black where the box
    leaves the image (``PIL.Image.crop``)."""
    _check_image(image)
    x1, y1, x2, y2 = (int(v) for v in box)
    if x2 <= x1 or y2 <= y1:
        raise ValueError(f'cannot crop the empty box {[x1, y1, x2, y2]}')
    h, w = image.shape[1:]
    if x1 >= 0 and y1 >= 0 and x2 <= w and y2 <= h:
        return image[:, y1:y2, x1:x2]
    out = image.new_zeros(3, y2 - y1, x2 - x1)
    sx1, sy1, sx2, sy2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
    if sx2 > sx1 and sy2 > sy1:
        out[:, sy1 - y1:sy2 - y1, sx1 - x1:sx2 - x1] = image[:, sy1:sy2,
                                                             sx1:sx2]
    return out


def center_crop(image: Tensor, size: int) -> Tensor:
    """The central ``size x size`` square (torchvision's ``CenterCrop``:
    offsets ``round((side - size) / 2)``)."""
    _check_image(image)
    h, w = image.shape[1:]
    top = int(round((h - size) / 2.0))
    left = int(round((w - size) / 2.0))
    return crop_image(image, (left, top, left + size, top + size))


def clip_normalize(image: Tensor) -> Tensor:
    """An RGB ``uint8`` image (or a batch) to float32, scaled to [0, 1] and
    normalised with :data:`CLIP_MEAN` and :data:`CLIP_STD`."""
    if image.dtype != torch.uint8 or image.shape[-3] != 3:
        raise ValueError('expected RGB uint8 images (..., 3, H, W), got '
                         f'{image.dtype} of shape {list(image.shape)}')
    mean = torch.tensor(CLIP_MEAN, device=image.device).view(3, 1, 1)
    std = torch.tensor(CLIP_STD, device=image.device).view(3, 1, 1)
    return (image.float() / 255 - mean) / std


def clip_square(image: Tensor, size: int = 224) -> Tensor:
    """Resize (shorter side) and centre-crop to ``size``, still ``uint8``."""
    return center_crop(resize_shorter(image, size), size)


def clip_preprocess(image: Tensor, size: int = 224) -> Tensor:
    """OpenAI's CLIP preprocessing: ``Resize(size)``, ``CenterCrop(size)``,
    normalisation; float32 ``(3, size, size)``."""
    return clip_normalize(clip_square(image, size))


def center_square_box(width: int, height: int) -> Tuple[float, ...]:
    """The ``(x1, y1, x2, y2)`` box, in the image's coordinates, that
    :func:`clip_preprocess` keeps: the central square of the shorter side."""
    side = min(width, height)
    x1, y1 = (width - side) / 2, (height - side) / 2
    return (x1, y1, x1 + side, y1 + side)
