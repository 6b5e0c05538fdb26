# Copyright (c) mmkd contributors. All rights reserved.
"""Invariants every mmkd distillation loss must satisfy."""
import pytest
import torch
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import init_default_scope

from mmkd.models.losses import BaseDistillLoss
from mmkd.registry import MODELS

# (loss config, student shape, teacher shape)
CASES = [
    (dict(type='KLDivergence'), (4, 5), (4, 5)),
    (dict(type='KLDivergence', tau=4.0), (2, 5, 3, 3), (2, 5, 3, 3)),
    (dict(type='ChannelWiseDivergence', tau=2.0), (2, 3, 4, 4), (2, 3, 4, 4)),
    (dict(type='MSEFeatureLoss'), (2, 3, 4, 4), (2, 3, 4, 4)),
    (dict(type='MSEFeatureLoss', normalize=True), (2, 3, 4, 4), (2, 3, 4, 4)),
    (dict(type='L1FeatureLoss'), (2, 3, 4, 4), (2, 3, 4, 4)),
    (dict(type='L1FeatureLoss', normalize=True), (2, 3, 4, 4), (2, 3, 4, 4)),
    (dict(type='CosineSimilarityLoss'), (2, 6, 3, 3), (2, 6, 3, 3)),
    (dict(type='GramMatrixLoss'), (2, 3, 4, 4), (2, 3, 4, 4)),
    (dict(type='GramMatrixLoss', mode='spatial'), (2, 3, 4, 4), (2, 5, 4, 4)),
]
IDS = [
    '-'.join([cfg['type']] +
             [f'{k}={v}' for k, v in cfg.items() if k != 'type'])
    for cfg, _, _ in CASES
]


def _inputs(shape_s, shape_t, seed=0):
    gen = torch.Generator().manual_seed(seed)
    pred = torch.randn(shape_s, generator=gen, requires_grad=True)
    target = torch.randn(shape_t, generator=gen, requires_grad=True)
    return pred, target


@pytest.mark.parametrize('cfg,shape_s,shape_t', CASES, ids=IDS)
def test_build_by_scope(cfg, shape_s, shape_t):
    prefixed = dict(cfg, type='mmkd.' + cfg['type'])
    loss = MODELS.build(prefixed)
    assert isinstance(loss, BaseDistillLoss)
    assert isinstance(loss.requires_same_shape, bool)
    assert loss.loss_weight == 1.0 and loss.reduction == 'mean'
    assert type(ROOT_MODELS.build(prefixed)) is type(loss)
    init_default_scope('mmkd')
    assert type(MODELS.build(dict(cfg))) is type(loss)
    assert type(ROOT_MODELS.build(dict(cfg))) is type(loss)


@pytest.mark.parametrize('cfg,shape_s,shape_t', CASES, ids=IDS)
def test_identical_inputs_give_zero(cfg, shape_s, shape_t):
    loss = MODELS.build(cfg)
    feat = torch.randn(shape_s, generator=torch.Generator().manual_seed(1))
    value = loss(feat, feat.clone())
    assert value.shape == ()
    torch.testing.assert_close(value, torch.tensor(0.), atol=1e-6, rtol=0)
    if cfg['type'] in ('KLDivergence', 'ChannelWiseDivergence',
                       'MSEFeatureLoss', 'L1FeatureLoss'):
        assert value.item() == 0.0


@pytest.mark.parametrize('cfg,shape_s,shape_t', CASES, ids=IDS)
def test_non_negative(cfg, shape_s, shape_t):
    loss = MODELS.build(dict(cfg, reduction='none'))
    for seed in range(3):
        pred, target = _inputs(shape_s, shape_t, seed)
        assert (loss(pred, target) >= 0).all()


@pytest.mark.parametrize('cfg,shape_s,shape_t', CASES, ids=IDS)
def test_gradient_reaches_student_only(cfg, shape_s, shape_t):
    loss = MODELS.build(cfg)
    pred, target = _inputs(shape_s, shape_t)
    value = loss(pred, target)
    assert value.requires_grad
    value.backward()
    assert pred.grad is not None
    assert pred.grad.abs().sum() > 0
    assert target.grad is None


@pytest.mark.parametrize('cfg,shape_s,shape_t', CASES, ids=IDS)
def test_loss_weight_scales(cfg, shape_s, shape_t):
    pred, target = _inputs(shape_s, shape_t)
    base = MODELS.build(cfg)(pred, target)
    scaled = MODELS.build(dict(cfg, loss_weight=2.5))(pred, target)
    torch.testing.assert_close(scaled, 2.5 * base)


@pytest.mark.parametrize('cfg,shape_s,shape_t', CASES, ids=IDS)
def test_reductions_agree(cfg, shape_s, shape_t):
    loss = MODELS.build(cfg)
    pred, target = _inputs(shape_s, shape_t)
    none = loss(pred, target, reduction_override='none')
    torch.testing.assert_close(loss(pred, target), none.mean())
    torch.testing.assert_close(
        loss(pred, target, reduction_override='sum'), none.sum())
    # element-wise weight and avg_factor go through mmdet's reduction
    weight = torch.zeros_like(none)
    weight.view(-1)[0] = 1.
    torch.testing.assert_close(
        loss(pred, target, weight=weight, avg_factor=2.),
        none.view(-1)[0] / 2.)


@pytest.mark.parametrize('cfg,shape_s,shape_t', CASES, ids=IDS)
def test_bad_reduction_raises(cfg, shape_s, shape_t):
    with pytest.raises(ValueError, match='avg'):
        MODELS.build(dict(cfg, reduction='avg'))
    loss = MODELS.build(cfg)
    pred, target = _inputs(shape_s, shape_t)
    with pytest.raises(ValueError, match='elementwise'):
        loss(pred, target, reduction_override='elementwise')
