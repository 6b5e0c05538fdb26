# Copyright (c) mmkd contributors. All rights reserved.
"""The three views of an image that OAKE embeds with CLIP (official
``main``: ``oadp/oake/globals.py``, ``blocks.py``, ``objects.py``).

Images are RGB ``uint8`` tensors ``(3, H, W)`` (:func:`to_rgb_tensor`);
boxes are ``(x1, y1, x2, y2)`` in the original image's pixels.

- Global: the whole image at full resolution, normalised.
- Blocks: block 0 is the whole image through CLIP's Resize + CenterCrop;
  then square windows of ``block_size`` px, per axis the fewest windows
  whose stride is at most ``max_stride``, evenly spread; then the same on
  the image shrunk by ``rescale`` (each side rounded down), again and
  again until no window fits.
- Objects: a square of side ``sqrt(ratio * area)`` on each proposal's
  centre, shifted inside the image where it fits, black-padded where it
  does not; Resize + CenterCrop; the proposal's mask on the tower's grid
  of patches for the [OBJ] token's attention.
"""
import math
from typing import List, Tuple

import torch
from torch import Tensor

from mmkd.models.clip import (center_square_box, clip_normalize, clip_square,
                              crop_image, resize_image)

__all__ = [
    'block0_box', 'block_layout', 'block_view', 'expand_boxes', 'global_view',
    'object_masks', 'object_view', 'partition', 'patch_grid', 'valid_proposals'
]


def global_view(image: Tensor) -> Tensor:
    """The whole image, normalised, at full resolution: float32
    ``(3, H, W)`` (the tower resizes its positional embedding)."""
    return clip_normalize(image)


def partition(length: int,
              block_size: int = 224,
              max_stride: int = 112) -> List[int]:
    """Offsets of the fewest ``block_size`` windows covering ``length``
    with strides of at most ``max_stride``, evenly spread (the first
    strides one longer where they do not divide evenly).

    Returns:
        list[int]: Window offsets; none when ``length < block_size``.
    """
    if length < block_size:
        return []
    span = length - block_size
    if span == 0:
        return [0]
    strides = -(-span // max_stride)  # ceil
    q, r = divmod(span, strides)
    offsets = [0]
    for i in range(strides):
        offsets.append(offsets[-1] + q + (i < r))
    return offsets


def block_layout(width: int,
                 height: int,
                 block_size: int = 224,
                 max_stride: int = 112,
                 rescale: float = 1.5) -> List[Tuple[int, int, List]]:
    """The windows of each level of the block pyramid (block 0 aside).

    Level 0 is the image; each next level is the previous one shrunk by
    ``rescale``, each side rounded down (``int(side / rescale)``), until
    a level has no window.

    Returns:
        list[tuple]: Per level, ``(level_width, level_height, offsets)``
        with ``offsets`` the ``(x, y)`` of its windows, x-major.
    """
    if rescale <= 1:
        raise ValueError(f'OAKE blocks: rescale must be > 1, got {rescale}')
    levels = []
    w, h = int(width), int(height)
    while True:
        xs = partition(w, block_size, max_stride)
        ys = partition(h, block_size, max_stride)
        if not xs or not ys:
            return levels
        levels.append((w, h, [(x, y) for x in xs for y in ys]))
        w, h = int(w / rescale), int(h / rescale)


def block0_box(width: int,
               height: int,
               faithful: bool = False) -> Tuple[float, ...]:
    """Block 0's box: the centre square that Resize + CenterCrop keep.

    ``faithful=True`` gives official ``main``'s box instead: the centre
    square's ``(x, y, w, h)``, ``((w - h) / 2, 0, h, h)``, written where
    ``(x1, y1, x2, y2)`` is read (its other blocks are ``x1, y1, x2, y2``).
    """
    if not faithful:
        return center_square_box(width, height)
    if width > height:
        return ((width - height) / 2, 0., float(height), float(height))
    return (0., (height - width) / 2, float(width), float(width))


def block_view(image: Tensor,
               block_size: int = 224,
               max_stride: int = 112,
               rescale: float = 1.5,
               faithful_block0_box: bool = False,
               size: int = 224) -> Tuple[Tensor, Tensor]:
    """Block 0 and the windows of :func:`block_layout`, cropped.

    A window's box is its pixels mapped back to the original image with
    the level's exact scale per axis (``width / level_width``); official
    ``main`` multiplies by ``rescale ** level`` instead, which ignores the
    rounding of the level sizes (at most a few pixels).

    Args:
        image (Tensor): RGB uint8 (3, H, W).
        block_size (int): Window side in pixels. Defaults to 224.
        max_stride (int): Largest stride between windows. Defaults to 112.
        rescale (float): Shrinking factor between levels. Defaults to 1.5.
        faithful_block0_box (bool): See :func:`block0_box`.
        size (int): Side of the tower's input; windows of another side
            are resized to it. Defaults to 224.

    Returns:
        tuple[Tensor, Tensor]: The blocks, uint8 (K, 3, size, size), and
        their boxes, float32 (K, 4).
    """
    height, width = image.shape[1:]
    blocks = [clip_square(image, size)]
    boxes = [block0_box(width, height, faithful_block0_box)]
    level = image
    for w, h, offsets in block_layout(width, height, block_size, max_stride,
                                      rescale):
        level = resize_image(level, (h, w))
        sx, sy = width / w, height / h
        for x, y in offsets:
            window = crop_image(level, (x, y, x + block_size, y + block_size))
            blocks.append(resize_image(window, (size, size)))
            boxes.append(
                (x * sx, y * sy, (x + block_size) * sx, (y + block_size) * sy))
    return torch.stack(blocks), torch.tensor(boxes, dtype=torch.float32)


def valid_proposals(boxes: Tensor, min_size: float = 4.) -> Tensor:
    """Which proposals OAKE keeps: at least ``min_size`` px wide and
    high."""
    return ((boxes[:, 2] - boxes[:, 0]) >= min_size) & (
        (boxes[:, 3] - boxes[:, 1]) >= min_size)


def expand_boxes(boxes: Tensor,
                 width: int,
                 height: int,
                 ratio: float = 8.) -> Tensor:
    """Squares of side ``sqrt(ratio * area)`` on the boxes' centres, moved
    (per axis) inside the image where the side fits, left in place where
    it does not.

    Returns:
        Tensor: float32 (N, 4) squares.
    """
    boxes = boxes.float()
    side = (ratio * (boxes[:, 2] - boxes[:, 0]) *
            (boxes[:, 3] - boxes[:, 1])).sqrt()[:, None]
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    lt = centre - side / 2
    rb = centre + side / 2
    size = boxes.new_tensor([width, height])
    offset = torch.where(lt < 0, -lt, torch.zeros_like(lt))
    offset = torch.where(rb > size, size - rb, offset)
    offset = torch.where(side <= size, offset, torch.zeros_like(offset))
    return torch.cat([lt + offset, rb + offset], 1)


def object_masks(boxes: Tensor, squares: Tensor, grid: int) -> Tensor:
    """Which patches of each square's ``grid x grid`` patches lie outside
    its box.

    As official ``main``: the square's pixels ``0 .. ceil(side) - 1``
    are inside where ``x1 <= x <= x2`` (box relative to the square), and
    this mask is resized to the grid by nearest neighbour (PyTorch's
    ``interpolate(mode='nearest')``: pixel ``floor(i * ceil(side) /
    grid)`` for patch ``i``).

    Returns:
        Tensor: bool (N, grid, grid), True outside the box.
    """
    boxes = boxes.float() - squares[:, [0, 1, 0, 1]]
    pixels = (squares[:, 2] - squares[:, 0]).ceil()
    scale = (pixels / grid).float()[:, None]
    index = torch.arange(grid, dtype=torch.float32)[None]
    source = torch.minimum((index * scale).floor(), pixels[:, None] - 1)
    inside_x = (boxes[:, 0:1] <= source) & (source <= boxes[:, 2:3])
    inside_y = (boxes[:, 1:2] <= source) & (source <= boxes[:, 3:4])
    return ~(inside_y[:, :, None] & inside_x[:, None, :])


def object_view(image: Tensor,
                boxes: Tensor,
                grid: int,
                ratio: float = 8.,
                size: int = 224) -> Tuple[Tensor, Tensor]:
    """The square crops of :func:`expand_boxes` and their masks.

    A square is cropped at its corners rounded to pixels (black beyond the
    image, as ``PIL.Image.crop``), then resized and centre-cropped to
    ``size`` (CLIP's preprocessing; rounding may leave it a pixel off
    square).

    Args:
        image (Tensor): RGB uint8 (3, H, W).
        boxes (Tensor): Proposals (N, 4), already filtered
            (:func:`valid_proposals`).
        grid (int): Side of the tower's grid of patches on a crop.
        ratio (float): Square area over box area. Defaults to 8.
        size (int): Crop side. Defaults to 224.

    Returns:
        tuple[Tensor, Tensor]: Crops, uint8 (N, 3, size, size), and masks,
        bool (N, grid, grid), True on patches outside the box.
    """
    height, width = image.shape[1:]
    squares = expand_boxes(boxes, width, height, ratio)
    masks = object_masks(boxes, squares, grid)
    corners = squares.round().long().tolist()  # half to even, as round()
    crops = [clip_square(crop_image(image, box), size) for box in corners]
    if not crops:
        return image.new_zeros(0, 3, size, size), masks
    return torch.stack(crops), masks


def patch_grid(size: int, patch_size: int, stride: int, padding: int) -> int:
    """The side of a convolution's output grid (the tower's patches)."""
    return math.floor((size + 2 * padding - patch_size) / stride) + 1
