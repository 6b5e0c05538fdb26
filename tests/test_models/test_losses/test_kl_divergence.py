# Copyright (c) mmkd contributors. All rights reserved.
import math

import pytest
import torch

from mmkd.registry import MODELS


def _kl(p_t, p_s):
    return sum(t * math.log(t / s) for t, s in zip(p_t, p_s))


def _softmax(logits, tau):
    exps = [math.exp(z / tau) for z in logits]
    return [e / sum(exps) for e in exps]


def test_hand_computed_logits():
    pred = torch.tensor([[0., 1.]])
    target = torch.tensor([[1., 0.]])
    # with tau=1: p_T = (a, 1 - a), p_S = (1 - a, a), a = e / (1 + e)
    a = math.e / (1 + math.e)
    expected = a * math.log(a / (1 - a)) + (1 - a) * math.log((1 - a) / a)
    loss = MODELS.build(dict(type='mmkd.KLDivergence'))
    torch.testing.assert_close(
        loss(pred, target), torch.tensor(expected), atol=1e-6, rtol=0)

    tau = 2.0
    expected = tau**2 * _kl(_softmax([1., 0.], tau), _softmax([0., 1.], tau))
    loss = MODELS.build(dict(type='mmkd.KLDivergence', tau=tau))
    torch.testing.assert_close(
        loss(pred, target), torch.tensor(expected), atol=1e-6, rtol=0)


def test_hand_computed_dense():
    # shape (N, C, H, W) = (1, 2, 1, 2): two positions with two classes
    pred = torch.tensor([[[[0., 2.]], [[1., 2.]]]])
    target = torch.tensor([[[[1., 0.]], [[0., 3.]]]])
    kl_pos0 = _kl(_softmax([1., 0.], 1.), _softmax([0., 1.], 1.))
    kl_pos1 = _kl(_softmax([0., 3.], 1.), _softmax([2., 2.], 1.))
    loss = MODELS.build(dict(type='mmkd.KLDivergence', reduction='none'))
    out = loss(pred, target)
    assert out.shape == (1, 1, 2)
    torch.testing.assert_close(
        out, torch.tensor([[[kl_pos0, kl_pos1]]]), atol=1e-6, rtol=0)
    torch.testing.assert_close(
        loss(pred, target, reduction_override='mean'),
        torch.tensor((kl_pos0 + kl_pos1) / 2),
        atol=1e-6,
        rtol=0)


@pytest.mark.parametrize('shape', [(3, 7), (2, 4, 3, 5), (2, 4, 6)])
def test_matches_direct_formula(shape):
    torch.manual_seed(0)
    pred, target = torch.randn(shape) * 3, torch.randn(shape) * 3
    tau = 3.0
    p_t = torch.softmax(target / tau, dim=1)
    p_s = torch.softmax(pred / tau, dim=1)
    direct = tau**2 * (p_t * (p_t.log() - p_s.log())).sum(dim=1)
    loss = MODELS.build(dict(type='KLDivergence', tau=tau, reduction='none'))
    out = loss(pred, target)
    assert out.shape == (shape[0], ) + shape[2:]
    torch.testing.assert_close(out, direct, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(
        loss(pred, target, reduction_override='mean'), direct.mean())


def test_extreme_logits_stay_finite():
    pred = torch.tensor([[1000., -1000.]], requires_grad=True)
    target = torch.tensor([[-1000., 1000.]])
    loss = MODELS.build(dict(type='KLDivergence'))
    value = loss(pred, target)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(pred.grad).all()
    assert loss(target, target).item() == 0.0


def test_bad_tau_raises():
    with pytest.raises(ValueError, match='-1'):
        MODELS.build(dict(type='KLDivergence', tau=-1))
