# Copyright (c) mmkd contributors. All rights reserved.
import math

import pytest
import torch

from mmkd.registry import MODELS


def test_hand_computed():
    # shape (N, C, H, W) = (1, 2, 1, 2): two channels of two positions
    pred = torch.tensor([[[[0., 1.]], [[2., 2.]]]])
    target = torch.tensor([[[[1., 0.]], [[0., math.log(3.)]]]])
    # channel 0: p_T = (a, 1 - a), p_S = (1 - a, a) with a = e / (1 + e)
    a = math.e / (1 + math.e)
    kl_c0 = a * math.log(a / (1 - a)) + (1 - a) * math.log((1 - a) / a)
    # channel 1: p_T = (1/4, 3/4), p_S = (1/2, 1/2)
    kl_c1 = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)

    loss = MODELS.build(dict(type='mmkd.ChannelWiseDivergence'))
    assert loss.requires_same_shape
    torch.testing.assert_close(
        loss(pred, target),
        torch.tensor((kl_c0 + kl_c1) / 2),
        atol=1e-6,
        rtol=0)
    out = loss(pred, target, reduction_override='none')
    assert out.shape == (1, 2)
    torch.testing.assert_close(
        out, torch.tensor([[kl_c0, kl_c1]]), atol=1e-6, rtol=0)


def test_temperature():
    pred = torch.tensor([[[[0., 1.]]]])
    target = torch.tensor([[[[1., 0.]]]])
    tau = 2.0
    # softmax((0, 1) / 2) = (1 - b, b), softmax((1, 0) / 2) = (b, 1 - b)
    b = math.exp(0.5) / (1 + math.exp(0.5))
    expected = tau**2 * (
        b * math.log(b / (1 - b)) + (1 - b) * math.log((1 - b) / b))
    loss = MODELS.build(dict(type='ChannelWiseDivergence', tau=tau))
    torch.testing.assert_close(
        loss(pred, target), torch.tensor(expected), atol=1e-6, rtol=0)


def test_matches_direct_formula():
    torch.manual_seed(0)
    n, c, h, w = 2, 3, 4, 5
    pred, target = torch.randn(n, c, h, w), torch.randn(n, c, h, w)
    tau = 4.0
    total = 0.
    for i in range(n):
        for j in range(c):
            p_s = torch.softmax(pred[i, j].reshape(-1) / tau, dim=0)
            p_t = torch.softmax(target[i, j].reshape(-1) / tau, dim=0)
            total += (p_t * torch.log(p_t / p_s)).sum()
    expected = tau**2 * total / (n * c)
    loss = MODELS.build(dict(type='ChannelWiseDivergence', tau=tau))
    torch.testing.assert_close(loss(pred, target), expected)


def test_channel_weight():
    torch.manual_seed(0)
    pred, target = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    loss = MODELS.build(dict(type='ChannelWiseDivergence'))
    none = loss(pred, target, reduction_override='none')
    weight = torch.tensor([[1., 0., 0.], [0., 0., 1.]])
    torch.testing.assert_close(
        loss(pred, target, weight=weight), (none[0, 0] + none[1, 2]) / 6)


def test_rejects_2d_input():
    loss = MODELS.build(dict(type='ChannelWiseDivergence'))
    with pytest.raises(ValueError, match=r'\(2, 3\)'):
        loss(torch.randn(2, 3), torch.randn(2, 3))
