# Copyright (c) mmkd contributors. All rights reserved.
import math

import torch

from mmkd.registry import MODELS


def test_hand_computed():
    # shape (N, C, H, W) = (1, 2, 1, 2); channel vectors per position:
    # pos 0: s = (1, 0), t = (0, 1) -> cos 0; pos 1: s = (3, 4),
    # t = (6, 8) -> cos 1
    pred = torch.tensor([[[[1., 3.]], [[0., 4.]]]])
    target = torch.tensor([[[[0., 6.]], [[1., 8.]]]])
    loss = MODELS.build(dict(type='mmkd.CosineSimilarityLoss'))
    assert loss.requires_same_shape
    out = loss(pred, target, reduction_override='none')
    assert out.shape == (1, 1, 2)
    torch.testing.assert_close(
        out, torch.tensor([[[1., 0.]]]), atol=1e-6, rtol=0)
    torch.testing.assert_close(
        loss(pred, target), torch.tensor(0.5), atol=1e-6, rtol=0)

    # s = (1, 1), t = (1, 0): 1 - 1 / sqrt(2); opposite vectors give 2
    pred = torch.tensor([[1., 1.], [1., 2.]])
    target = torch.tensor([[1., 0.], [-2., -4.]])
    expected = torch.tensor([1 - 1 / math.sqrt(2), 2.])
    torch.testing.assert_close(
        loss(pred, target, reduction_override='none'),
        expected,
        atol=1e-6,
        rtol=0)


def test_matches_direct_formula():
    torch.manual_seed(0)
    pred, target = torch.randn(2, 8, 3, 4), torch.randn(2, 8, 3, 4)
    cos = (pred * target).sum(1) / (pred.norm(dim=1) * target.norm(dim=1))
    loss = MODELS.build(dict(type='CosineSimilarityLoss', reduction='none'))
    out = loss(pred, target)
    assert out.shape == (2, 3, 4)
    torch.testing.assert_close(out, 1 - cos)


def test_scale_invariant():
    torch.manual_seed(0)
    feat = torch.randn(2, 8, 3, 3)
    loss = MODELS.build(dict(type='CosineSimilarityLoss'))
    torch.testing.assert_close(
        loss(feat, 5. * feat), torch.tensor(0.), atol=1e-6, rtol=0)
