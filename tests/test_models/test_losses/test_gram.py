# Copyright (c) mmkd contributors. All rights reserved.
import math

import pytest
import torch
import torch.nn.functional as F

from mmkd.registry import MODELS


def test_hand_computed_channel():
    # shape (N, C, H, W) = (1, 2, 1, 2): F_s = [[1, 2], [3, 4]], F_t = I
    pred = torch.tensor([[[[1., 2.]], [[3., 4.]]]])
    target = torch.tensor([[[[1., 0.]], [[0., 1.]]]])
    # G_s = F_s F_s^T / 2 = [[2.5, 5.5], [5.5, 12.5]], G_t = I / 2
    expected_none = torch.tensor([[[2.**2, 5.5**2], [5.5**2, 12.**2]]])
    loss = MODELS.build(dict(type='mmkd.GramMatrixLoss'))
    assert loss.mode == 'channel' and loss.requires_same_shape
    out = loss(pred, target, reduction_override='none')
    assert out.shape == (1, 2, 2)
    torch.testing.assert_close(out, expected_none)
    torch.testing.assert_close(loss(pred, target), torch.tensor(52.125))


def test_hand_computed_spatial_different_channels():
    # student C=2: positions (1, 3) and (2, 4); teacher C=3: orthogonal
    pred = torch.tensor([[[[1., 2.]], [[3., 4.]]]])
    target = torch.tensor([[[[1., 0.]], [[0., 1.]], [[0., 0.]]]])
    cos01 = (1 * 2 + 3 * 4) / (math.sqrt(10) * math.sqrt(20))
    loss = MODELS.build(dict(type='mmkd.GramMatrixLoss', mode='spatial'))
    assert not loss.requires_same_shape
    out = loss(pred, target, reduction_override='none')
    assert out.shape == (1, 2, 2)
    torch.testing.assert_close(
        out,
        torch.tensor([[[0., cos01**2], [cos01**2, 0.]]]),
        atol=1e-6,
        rtol=0)
    torch.testing.assert_close(
        loss(pred, target), torch.tensor(cos01**2 / 2), atol=1e-6, rtol=0)


def test_matches_direct_formula():
    torch.manual_seed(0)
    pred, target = torch.randn(2, 3, 4, 5), torch.randn(2, 3, 4, 5)
    f_s, f_t = pred.reshape(2, 3, 20), target.reshape(2, 3, 20)
    g_s = torch.einsum('nci,ndi->ncd', f_s, f_s) / 20
    g_t = torch.einsum('nci,ndi->ncd', f_t, f_t) / 20
    loss = MODELS.build(dict(type='GramMatrixLoss'))
    torch.testing.assert_close(loss(pred, target), ((g_s - g_t)**2).mean())

    target = torch.randn(2, 7, 4, 5)
    f_s = F.normalize(pred.reshape(2, 3, 20), dim=1)
    f_t = F.normalize(target.reshape(2, 7, 20), dim=1)
    r_s = torch.einsum('nci,ncj->nij', f_s, f_s)
    r_t = torch.einsum('nci,ncj->nij', f_t, f_t)
    loss = MODELS.build(dict(type='GramMatrixLoss', mode='spatial'))
    out = loss(pred, target, reduction_override='none')
    assert out.shape == (2, 20, 20)
    torch.testing.assert_close(out, (r_s - r_t)**2)


def test_spatial_mode_rejects_different_size():
    loss = MODELS.build(dict(type='GramMatrixLoss', mode='spatial'))
    with pytest.raises(ValueError) as err:
        loss(torch.randn(2, 3, 4, 4), torch.randn(2, 5, 8, 8))
    assert '(2, 3, 4, 4)' in str(err.value)
    assert '(2, 5, 8, 8)' in str(err.value)


def test_channel_mode_rejects_different_channels():
    loss = MODELS.build(dict(type='GramMatrixLoss'))
    with pytest.raises(ValueError, match=r'\(2, 3, 4, 4\).*\(2, 5, 4, 4\)'):
        loss(torch.randn(2, 3, 4, 4), torch.randn(2, 5, 4, 4))


def test_bad_mode_raises():
    with pytest.raises(ValueError, match='pixel'):
        MODELS.build(dict(type='GramMatrixLoss', mode='pixel'))
