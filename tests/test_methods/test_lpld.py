# Copyright (c) mmkd contributors. All rights reserved.
import pytest
import torch
from mmdet.models.task_modules.coders import DeltaXYWHBBoxCoder

from mmkd.methods.lpld import (LPLDLoss, feature_weight, lpld_kl,
                               mine_low_confidence, refine_proposals)

BIG = 20.0  # a logit margin that makes a softmax one-hot in float32


def logits_for(classes, num_fg=3, margin=BIG):
    """(R, K + 1) logits whose argmax is ``classes`` (K = background)."""
    out = torch.zeros(len(classes), num_fg + 1)
    out[torch.arange(len(classes)), torch.tensor(classes)] = margin
    return out


def test_refine_uses_the_argmax_class_and_keeps_background():
    coder = DeltaXYWHBBoxCoder()
    proposals = torch.tensor([[0., 0., 10., 10.], [20., 20., 40., 40.]])
    deltas = torch.zeros(2, 3, 4)
    deltas[0, 1] = torch.tensor([0.1, 0., 0., 0.])  # class 1: dx of 1 px
    deltas[1, 2] = torch.tensor([0.5, 0.5, 0., 0.])  # class 2 (unused)
    logits = logits_for([1, 3])  # proposal 1 is background
    refined = refine_proposals(proposals, logits, deltas.view(2, 12),
                               coder.decode)
    torch.testing.assert_close(refined[0], torch.tensor([1., 0., 11., 10.]))
    torch.testing.assert_close(refined[1], proposals[1])
    with pytest.raises(ValueError, match='match neither 4 nor 4 \\* 3'):
        refine_proposals(proposals, logits, torch.zeros(2, 8), coder.decode)


def test_iou_filter_keeps_proposals_the_hpl_do_not_cover():
    hpl = torch.tensor([[0., 0., 10., 10.]])
    boxes = torch.tensor([
        [0., 0., 10., 10.],  # IoU 1
        [0., 0., 10., 4.],  # IoU 0.4: kept (<=)
        [0., 0., 10., 3.],  # IoU 0.3
        [50., 50., 60., 60.],  # IoU 0
    ])
    logits = logits_for([0, 0, 0, 0])
    keep = mine_low_confidence(boxes, logits, hpl)
    assert keep.tolist() == [False, True, True, True]


def test_confidence_filters():
    hpl = torch.tensor([[100., 100., 110., 110.]])  # covers none
    boxes = torch.tensor([[0., 0., 10., 10.]]).repeat(4, 1)
    logits = torch.tensor([
        [5., 0., 0., 0.],  # fg softmax max 0.987, bg 0.0066: kept
        [1., 1., 0., 0.],  # fg max 0.42 < 0.9: dropped
        [5., 0., 0., 12.],  # fg max 0.987, bg 0.9990 > 0.99: dropped
        [5., 0., 0., 9.],  # bg 0.982 <= 0.99: kept, although argmax is bg
    ])
    keep = mine_low_confidence(boxes, logits, hpl)
    assert keep.tolist() == [True, False, False, True]
    # thresholds are options
    assert mine_low_confidence(boxes, logits, hpl,
                               fg_score_thr=0.4).tolist() == [
                                   True, True, False, True]


def test_no_hpl_mines_nothing():
    boxes = torch.tensor([[0., 0., 10., 10.]])
    keep = mine_low_confidence(boxes, logits_for([0]), torch.zeros(0, 4))
    assert keep.shape == (1, ) and not keep.any()


def test_feature_weight_is_one_minus_cosine():
    s = torch.tensor([[1., 0.], [1., 1.], [3., 4.]])
    t = torch.tensor([[0., 1.], [2., 2.], [4., 3.]])
    w = feature_weight(s, t)
    torch.testing.assert_close(w, torch.tensor([1., 0., 1 - 24 / 25]))
    # (R, D, h, w) RoI maps are mean-pooled first
    maps = torch.rand(3, 5, 2, 2)
    torch.testing.assert_close(
        feature_weight(maps, maps * 2), torch.zeros(3), atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match='differ in shape'):
        feature_weight(s, t[:, :1])


def test_kl_with_appended_background_by_hand():
    student = torch.tensor([[1., 2., 0.5]])  # K = 2, background last
    teacher = torch.tensor([[0.3, -0.2, 4.0]])
    p_t = torch.softmax(torch.tensor([0.3, -0.2]), 0)
    p_t = torch.cat([p_t, torch.tensor([1e-9])])
    p_s = torch.softmax(student[0], 0)
    expected = (p_t * (p_t.log() - p_s.log())).sum()
    torch.testing.assert_close(lpld_kl(student, teacher)[0], expected)
    # the loss: weighted, averaged over proposals, divided by 10
    student2 = torch.cat([student, student.flip(1)])
    teacher2 = torch.cat([teacher, teacher])
    w = torch.tensor([0.5, 0.25])
    kl = lpld_kl(student2, teacher2)
    torch.testing.assert_close(
        LPLDLoss()(student2, teacher2, w), (kl * w).mean() / 10)


def kl_by_probabilities(student, teacher, bg_prob=1e-9):
    """The KL from probabilities, as the official code computes it."""
    num_fg = student.shape[1] - 1
    p_t = torch.cat([
        teacher[:, :num_fg].softmax(1),
        teacher.new_full((len(teacher), 1), bg_prob)
    ], 1)
    return (p_t * (p_t.log() - student.log_softmax(1))).sum(1)


def test_kl_equals_the_probability_formula_where_that_is_finite():
    g = torch.Generator().manual_seed(0)
    student = 3 * torch.randn(64, 6, generator=g)
    teacher = 3 * torch.randn(64, 6, generator=g)
    torch.testing.assert_close(
        lpld_kl(student, teacher), kl_by_probabilities(student, teacher),
        atol=1e-6, rtol=1e-6)


def test_kl_finite_when_a_teacher_probability_underflows():
    """A foreground logit gap of 200 makes the teacher's softmax exactly 0
    in float32 (0 * log 0 was NaN); float64 still resolves it."""
    student = torch.tensor([[1., -2., 0.5, 0.3]], requires_grad=True)
    teacher = torch.tensor([[100., -100., 0., 4.]])
    assert kl_by_probabilities(student, teacher).isnan().all()
    kl = lpld_kl(student, teacher)
    assert torch.isfinite(kl).all()
    expected = kl_by_probabilities(student.double(), teacher.double())
    torch.testing.assert_close(kl.double(), expected, atol=1e-6, rtol=1e-6)
    loss = LPLDLoss()(student, teacher, torch.ones(1))
    loss.backward()
    assert torch.isfinite(student.grad).all()


def test_bg_prob_must_be_a_probability():
    for bg_prob in (0.0, -1e-9, 1.0):
        with pytest.raises(ValueError, match=f'bg_prob must be in .*'
                           f'got {bg_prob}'):
            LPLDLoss(bg_prob=bg_prob)


def test_identical_teacher_and_student_give_zero():
    feats = torch.rand(4, 8)
    logits = torch.randn(4, 4)
    w = feature_weight(feats, feats.clone())
    assert torch.allclose(w, torch.zeros(4), atol=1e-6)
    assert LPLDLoss()(logits, logits.clone(), w).abs() < 1e-6


def test_no_proposals_is_a_zero_with_a_graph():
    student = torch.zeros(0, 4, requires_grad=True)
    loss = LPLDLoss()(student, torch.zeros(0, 4), torch.zeros(0))
    assert loss.item() == 0
    loss.backward()  # no crash on an empty selection


def test_gradients_reach_only_the_student():
    student = torch.randn(3, 4, requires_grad=True)
    teacher = torch.randn(3, 4, requires_grad=True)
    s_feat = torch.rand(3, 6, requires_grad=True)
    t_feat = torch.rand(3, 6, requires_grad=True)
    w = feature_weight(s_feat, t_feat)
    LPLDLoss()(student, teacher, w).backward()
    assert student.grad.abs().sum() > 0
    assert teacher.grad is None and s_feat.grad is None and t_feat.grad is None
