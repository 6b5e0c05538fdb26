# Copyright (c) mmkd contributors. All rights reserved.
import pytest
import torch

from mmkd.registry import MODELS


def _standardize(x):
    mean = x.mean(dim=(2, 3), keepdim=True)
    std = x.var(dim=(2, 3), keepdim=True, unbiased=False).sqrt()
    return (x - mean) / (std + 1e-6)


def test_hand_computed():
    # shape (N, C, H, W) = (1, 1, 1, 2)
    pred = torch.tensor([[[[1., 2.]]]])
    target = torch.tensor([[[[0., 4.]]]])
    mse = MODELS.build(dict(type='mmkd.MSEFeatureLoss'))
    l1 = MODELS.build(dict(type='mmkd.L1FeatureLoss'))
    assert mse.requires_same_shape and l1.requires_same_shape
    # squared diffs (1, 4), absolute diffs (1, 2)
    torch.testing.assert_close(mse(pred, target), torch.tensor(2.5))
    torch.testing.assert_close(l1(pred, target), torch.tensor(1.5))
    torch.testing.assert_close(
        mse(pred, target, reduction_override='none'),
        torch.tensor([[[[1., 4.]]]]))
    torch.testing.assert_close(
        l1(pred, target, reduction_override='sum'), torch.tensor(3.))


def test_hand_computed_normalized():
    # (0, 2) -> mean 1, std 1 -> (-1, 1); (5, 1) -> mean 3, std 2 -> (1, -1)
    pred = torch.tensor([[[[0., 2.]]]])
    target = torch.tensor([[[[5., 1.]]]])
    mse = MODELS.build(dict(type='MSEFeatureLoss', normalize=True))
    l1 = MODELS.build(dict(type='L1FeatureLoss', normalize=True))
    torch.testing.assert_close(
        mse(pred, target), torch.tensor(4.), atol=1e-5, rtol=0)
    torch.testing.assert_close(
        l1(pred, target), torch.tensor(2.), atol=1e-5, rtol=0)


def test_normalized_ignores_channel_scale_and_shift():
    torch.manual_seed(0)
    feat = torch.randn(2, 3, 4, 4)
    scale = torch.tensor([0.5, 2., 10.]).view(1, 3, 1, 1)
    target = feat * scale + 7.
    for type_ in ('MSEFeatureLoss', 'L1FeatureLoss'):
        plain = MODELS.build(dict(type=type_))
        normed = MODELS.build(dict(type=type_, normalize=True))
        assert plain(feat, target) > 1.
        assert normed(feat, target) < 1e-5


def test_matches_direct_formula():
    torch.manual_seed(0)
    pred, target = torch.randn(2, 3, 4, 5), torch.randn(2, 3, 4, 5) * 4 + 1
    cases = [
        ('MSEFeatureLoss', False, ((pred - target)**2).mean()),
        ('L1FeatureLoss', False, (pred - target).abs().mean()),
        ('MSEFeatureLoss', True,
         ((_standardize(pred) - _standardize(target))**2).mean()),
        ('L1FeatureLoss', True,
         (_standardize(pred) - _standardize(target)).abs().mean()),
    ]
    for type_, normalize, expected in cases:
        loss = MODELS.build(dict(type=type_, normalize=normalize))
        torch.testing.assert_close(loss(pred, target), expected)


def test_mask_weight_broadcasts():
    torch.manual_seed(0)
    pred, target = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    mask = (torch.rand(2, 1, 4, 4) > 0.5).float()
    loss = MODELS.build(dict(type='MSEFeatureLoss'))
    expected = ((pred - target)**2 * mask).sum()
    torch.testing.assert_close(
        loss(pred, target, weight=mask, reduction_override='sum'), expected)


def test_normalize_rejects_2d_input():
    loss = MODELS.build(dict(type='L1FeatureLoss', normalize=True))
    with pytest.raises(ValueError, match=r'\(4, 8\)'):
        loss(torch.randn(4, 8), torch.randn(4, 8))


def test_sigmoid_compares_probabilities():
    # logits 0 and log(3): probabilities 1/2 and 3/4
    pred = torch.tensor([[[[0., 0.]]]])
    target = torch.tensor([[[[0., float(torch.tensor(3.).log())]]]])
    mse = MODELS.build(dict(type='mmkd.MSEFeatureLoss', sigmoid=True))
    l1 = MODELS.build(dict(type='mmkd.L1FeatureLoss', sigmoid=True))
    torch.testing.assert_close(mse(pred, target), torch.tensor(0.0625 / 2))
    torch.testing.assert_close(l1(pred, target), torch.tensor(0.25 / 2))
    # logits far apart on the saturated side barely differ as probabilities
    assert mse(torch.full((1, 1, 2, 2), 20.),
               torch.full((1, 1, 2, 2), 40.)) < 1e-12
    assert 'sigmoid=True' in repr(mse)
    with pytest.raises(ValueError, match='normalize and sigmoid'):
        MODELS.build(dict(type='MSEFeatureLoss', normalize=True,
                          sigmoid=True))
