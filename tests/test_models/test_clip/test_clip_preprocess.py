# Copyright (c) mmkd contributors. All rights reserved.
"""CLIP's preprocessing on tensors: torchvision's Resize + CenterCrop on PIL
images (OpenAI's ``clip.load``), CLIP's mean and std."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmkd.models.clip import (CLIP_MEAN, CLIP_STD, center_crop,
                              center_square_box, clip_normalize,
                              clip_preprocess, crop_image, resize_image,
                              resize_shorter, to_rgb_tensor)


def _image(h, w, seed=0):
    """A smooth random RGB image (a natural image's range of frequencies
    matters for comparing resampling kernels, not noise)."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, max(h // 10, 2), max(w // 10, 2), generator=gen)
    image = F.interpolate(coarse * 255, size=(h, w), mode='bilinear')[0]
    return image.round().to(torch.uint8)


def test_resize_is_within_one_grey_level_of_pil_bicubic():
    Image = pytest.importorskip('PIL.Image')
    image = _image(120, 160)
    pil = Image.fromarray(image.permute(1, 2, 0).numpy())
    for h, w in ((50, 70), (224, 298), (240, 320), (37, 41)):
        ours = resize_image(image, (h, w))
        reference = torch.from_numpy(
            np.array(pil.resize((w, h), Image.BICUBIC))).permute(2, 0, 1)
        assert ours.dtype == torch.uint8 and ours.shape == (3, h, w)
        assert (ours.int() - reference.int()).abs().max() <= 1, (h, w)


def test_resize_shorter_follows_torchvision():
    # the longer side is int(size * long / short)
    assert resize_shorter(_image(480, 640), 224).shape == (3, 224, 298)
    assert resize_shorter(_image(641, 480), 224).shape == (3, 299, 224)
    image = _image(224, 300)
    assert resize_shorter(image, 224) is image


def test_center_crop_offsets_and_padding():
    image = torch.arange(3 * 5 * 8, dtype=torch.uint8).reshape(3, 5, 8)
    # offsets round((8 - 3) / 2) = 2 (round half to even) and round(1) = 1
    assert torch.equal(center_crop(image, 3), image[:, 1:4, 2:5])
    # a box leaving the image is black there, as PIL's crop
    out = crop_image(image, (-2, 3, 3, 7))
    assert out.shape == (3, 4, 5)
    assert torch.equal(out[:, :2, 2:], image[:, 3:5, 0:3])
    assert out[:, 2:].eq(0).all() and out[:, :, :2].eq(0).all()
    with pytest.raises(ValueError, match=r'empty box \[3, 0, 3, 2\]'):
        crop_image(image, (3, 0, 3, 2))


def test_clip_preprocess_normalises_the_centre_square():
    image = _image(480, 640)
    out = clip_preprocess(image)
    assert out.shape == (3, 224, 224) and out.dtype == torch.float32
    square = resize_shorter(image, 224)[:, :, 37:261]
    mean = torch.tensor(CLIP_MEAN).view(3, 1, 1)
    std = torch.tensor(CLIP_STD).view(3, 1, 1)
    assert torch.allclose(out, (square.float() / 255 - mean) / std)
    assert torch.equal(clip_normalize(square[None])[0], out)
    assert center_square_box(640, 480) == (80.0, 0.0, 560.0, 480.0)
    assert center_square_box(300, 500) == (0.0, 100.0, 300.0, 400.0)


def test_bad_images_are_named():
    with pytest.raises(
            ValueError,
            match=r'RGB uint8 tensor \(3, H, W\), '
            r'got torch.float32 of shape \[3, 4, 4\]'):
        resize_image(torch.zeros(3, 4, 4), (2, 2))
    with pytest.raises(
            ValueError,
            match=r'\(H, W, 3\) uint8 image, got '
            r'uint8 of shape \(4, 4\)'):
        to_rgb_tensor(np.zeros((4, 4), np.uint8))
    bgr = np.zeros((2, 3, 3), np.uint8)
    bgr[..., 0] = 9  # blue
    assert to_rgb_tensor(bgr)[2].eq(9).all()
    assert to_rgb_tensor(bgr, 'rgb')[0].eq(9).all()
