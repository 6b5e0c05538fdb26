# Copyright (c) mmkd contributors. All rights reserved.
"""``CLIPImageTower.forward_with_token``: an extra token (OADP's [OBJ])
that reads the patches through a biased attention, beside an unchanged
class-token path."""
import pytest
import torch
from clip_standins import random_openai_clip

from mmkd.models.clip import CLIPImageTower

# ViT-B/32's geometry (patch 32, 224 px) at a tiny width
ARCH = dict(vision_width=64, patch_size=32, grid=7, embed_dim=16)


def _tower(layers=2):
    state_dict = random_openai_clip(
        vision_layers=layers, dtype=torch.float32, **ARCH)
    # OADP's object view: stride 16, padding 15 -> 14x14 patches at 224 px
    return CLIPImageTower(checkpoint=state_dict, resize_pos_embed=True).eval()


def _images(n=2, seed=0):
    return torch.randn(
        n, 3, 224, 224, generator=torch.Generator().manual_seed(seed))


def test_zero_bias_gives_the_class_token():
    tower = _tower()
    with torch.no_grad():
        cls, token = tower.forward_with_token(
            _images(), torch.zeros(2, 196), patch_stride=16, patch_padding=15)
        unbiased = tower.forward_with_token(
            _images(), patch_stride=16, patch_padding=15)[1]
    # the same query over the same keys (its own copy instead of CLS)
    assert torch.allclose(token, cls, atol=1e-5)
    assert torch.allclose(unbiased, cls, atol=1e-5)


def test_class_token_path_is_unchanged_by_the_extra_token():
    tower = _tower()
    bias = torch.full((2, 14, 14), -100.)
    bias[:, 3:9, 4:10] = 0
    with torch.no_grad():
        cls, token = tower.forward_with_token(
            _images(), bias, patch_stride=16, patch_padding=15)
        plain = tower.transformer(
            tower.embed(_images(), patch_stride=16, patch_padding=15))
        assert torch.equal(cls, tower.project(plain[0]))
        # at the tower's own stride, forward() is the class-token output
        assert torch.equal(
            tower.forward_with_token(_images())[0], tower(_images()))
    assert not torch.allclose(token, cls, atol=1e-3)


def test_pixels_outside_the_box_do_not_change_the_token():
    # one block: the patches entering it have seen only their own pixels
    # (deeper blocks read patches that attended to the whole image in the
    # unchanged class/patch path, as in OADP)
    tower = _tower(layers=1)
    bias = torch.full((1, 14, 14), -100.)
    bias[:, 5:9, 5:9] = 0  # patches 5..8: pixels 65..144 (kernel 32, pad 15)
    images = _images(1)
    changed = images.clone()
    changed[..., :60, :] = torch.randn(3, 60, 224)
    changed[..., 150:] = 5.
    changed[..., 60:150, :60] = -3.
    with torch.no_grad():
        cls, token = tower.forward_with_token(images, bias, 16, 15)
        cls2, token2 = tower.forward_with_token(changed, bias, 16, 15)
    assert torch.allclose(token, token2, atol=1e-6)
    assert not torch.allclose(cls, cls2, atol=1e-3)


def test_patch_bias_shape_is_checked():
    tower = _tower(layers=1)
    with pytest.raises(
            ValueError,
            match=r'patch_bias has shape \[2, 49\], '
            r'the images give 2 x 196 patches'):
        tower.forward_with_token(_images(), torch.zeros(2, 49), 16, 15)
