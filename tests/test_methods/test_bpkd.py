# Copyright (c) mmkd contributors. All rights reserved.
import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmkd.methods.bpkd import (BoundaryBodyLoss, BoundaryEdgeLoss,
                               boundary_edge_mask, label_edges)


def two_regions(n=1, size=16, split=8):
    """Class 0 in columns [0, split), class 1 from column ``split`` on."""
    labels = torch.zeros(n, size, size, dtype=torch.long)
    labels[..., split:] = 1
    return labels


def samples(labels):
    return [
        SegDataSample(gt_sem_seg=PixelData(data=label[None]))
        for label in labels
    ]


def test_label_edges_are_both_sides_of_a_boundary():
    edges = label_edges(two_regions())[0]
    assert edges[:, 7].all() and edges[:, 8].all()
    assert edges.sum() == 2 * 16


@pytest.mark.parametrize('k', [3, 5, 7])
def test_morphological_gradient_band_is_k_minus_1_wide(k):
    mask = boundary_edge_mask(two_regions(), 2, (16, 16), k,
                              order='onehot_then_detect')
    band = torch.zeros(16)
    band[8 - (k - 1) // 2:8 + (k - 1) // 2] = 1
    for c in range(2):
        torch.testing.assert_close(mask[0, c], band.expand(16, 16))


@pytest.mark.parametrize('k', [3, 5])
def test_figure_order_dilates_each_class_edge_by_k(k):
    mask = boundary_edge_mask(two_regions(), 2, (16, 16), k)
    r = k // 2
    class0, class1 = torch.zeros(16), torch.zeros(16)
    class0[7 - r:7 + r + 1] = 1  # class 0's edge column is 7
    class1[8 - r:8 + r + 1] = 1  # class 1's is 8
    torch.testing.assert_close(mask[0, 0], class0.expand(16, 16))
    torch.testing.assert_close(mask[0, 1], class1.expand(16, 16))


def test_mask_is_pooled_to_logit_size():
    # band in columns 7 and 8 at full size; logits at 1/4: each of the
    # pooled columns 1 and 2 holds one band column of four -> 0.25
    mask = boundary_edge_mask(two_regions(), 2, (4, 4), 3,
                              order='onehot_then_detect')
    assert mask.shape == (1, 2, 4, 4)
    expected = torch.tensor([0., 0.25, 0.25, 0.]).expand(4, 4)
    for c in range(2):
        torch.testing.assert_close(mask[0, c], expected)
    assert mask.min() >= 0 and mask.max() <= 1
    # a factor of 2 in height and 4 in width
    assert boundary_edge_mask(two_regions(), 2, (8, 4), 3).shape == (1, 2,
                                                                      8, 4)


@pytest.mark.parametrize('order', ['detect_then_onehot', 'onehot_then_detect'])
def test_ignore_pixels_are_never_edges(order):
    labels = two_regions()
    labels[:, :4] = 255  # top rows ignored
    mask = boundary_edge_mask(labels, 2, (16, 16), 3, order=order)
    assert mask[0, :, :4].abs().sum() == 0
    assert mask[0, :, 4:].sum() > 0
    # a class next to an ignored region (or the padding) has no boundary
    labels = torch.zeros(1, 16, 16, dtype=torch.long)
    labels[..., 8:] = 255
    assert boundary_edge_mask(labels, 2, (16, 16), 3, order=order).sum() == 0


def test_mask_errors_name_the_bad_input():
    labels = two_regions()
    labels[0, 0, 0] = 5
    with pytest.raises(ValueError, match='hold class 5 but the logits have 2'):
        boundary_edge_mask(labels, 2, (16, 16))
    with pytest.raises(ValueError, match='16x16 are not an integer multiple'
                       ".*logits' size 5x5"):
        boundary_edge_mask(two_regions(), 2, (5, 5))
    with pytest.raises(ValueError, match='kernel_size must be odd'):
        boundary_edge_mask(two_regions(), 2, (16, 16), 4)


def _logits(seed, n=2, c=3, size=8):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, size, size, generator=g) * 3


def _labels(n=2, size=16):
    labels = torch.zeros(n, size, size, dtype=torch.long)
    labels[:, :, 6:] = 1
    labels[:, 10:, 3:12] = 2
    labels[1, :2] = 255
    return labels


def edge_loss_by_hand(student, teacher, mask, alpha, tau):
    """L_E with loops: one (sample, class) term at a time."""
    terms = []
    n, c = student.shape[:2]
    for i in range(n):
        p_t = torch.softmax(teacher[i] * mask[i] / tau, 0)
        p_s = torch.softmax(student[i] * mask[i] / tau, 0)
        kl = (p_t * (p_t.log() - p_s.log())).sum(0)
        for j in range(c):
            edge_pixels = (mask[i, j] > 0).sum()
            if edge_pixels:
                terms.append(alpha * (mask[i, j] * kl).sum() / edge_pixels)
    return torch.stack(terms).mean()


def test_edge_loss_matches_the_figure():
    student, teacher = _logits(0), _logits(1)
    labels = _labels()
    loss = BoundaryEdgeLoss(tau=2.0, alpha=2.0, kernel_size=3)
    value = loss(student, teacher, samples(labels))
    mask = boundary_edge_mask(labels, 3, (8, 8), 3)
    torch.testing.assert_close(
        value, edge_loss_by_hand(student, teacher, mask, 2.0, 2.0))
    # loss_weight multiplies; 'soft' divides by the sum of the mask
    doubled = BoundaryEdgeLoss(tau=2.0, kernel_size=3, loss_weight=2.0)
    torch.testing.assert_close(
        doubled(student, teacher, samples(labels)), 2 * value)
    soft = BoundaryEdgeLoss(tau=2.0, kernel_size=3, edge_count='soft')
    assert soft(student, teacher, samples(labels)) > value


def test_losses_zero_for_equal_logits_and_non_negative():
    labels = _labels()
    for loss in (BoundaryEdgeLoss(kernel_size=5), BoundaryBodyLoss()):
        logits = _logits(0)
        assert loss(logits, logits.clone(), samples(labels)).abs() < 1e-6
        for seed in range(5):
            assert loss(_logits(seed), _logits(seed + 10),
                        samples(labels)) >= 0


def test_edge_loss_ignores_logits_outside_the_band():
    student, teacher = _logits(0), _logits(1)
    labels = _labels()
    loss = BoundaryEdgeLoss(kernel_size=3)
    before = loss(student, teacher, samples(labels))
    outside = boundary_edge_mask(labels, 3, (8, 8), 3) == 0
    assert outside.any() and not outside.all()
    changed = torch.where(outside, student + 100 * _logits(7), student)
    torch.testing.assert_close(loss(changed, teacher, samples(labels)),
                               before)


def test_body_loss_is_cwd_on_the_body_logits():
    student, teacher = _logits(0), _logits(1)
    labels = _labels()
    tau = 4.0
    value = BoundaryBodyLoss(tau=tau, kernel_size=3)(student, teacher,
                                                     samples(labels))
    body = 1 - boundary_edge_mask(labels, 3, (8, 8), 3)
    s = (student * body).flatten(2) / tau
    t = (teacher * body).flatten(2) / tau
    p_t = t.softmax(2)
    kl = (p_t * (t.log_softmax(2) - s.log_softmax(2))).sum(2)
    torch.testing.assert_close(value, tau**2 * kl.mean())


def test_gradients_reach_only_the_student():
    student = _logits(0).requires_grad_()
    teacher = _logits(1).requires_grad_()
    labels = _labels()
    for loss in (BoundaryEdgeLoss(kernel_size=3), BoundaryBodyLoss()):
        loss(student, teacher, samples(labels)).backward()
        assert teacher.grad is None
        assert student.grad.abs().sum() > 0
        student.grad = None


def test_teacher_logits_resized_to_student_size():
    student = _logits(0, size=8)
    teacher = _logits(1, size=16)
    labels = _labels()
    loss = BoundaryEdgeLoss(kernel_size=3)
    resized = F.interpolate(teacher, (8, 8), mode='bilinear',
                            align_corners=False)
    torch.testing.assert_close(
        loss(student, teacher, samples(labels)),
        loss(student, resized, samples(labels)))


def test_bad_inputs_fail_clearly():
    labels = _labels()
    loss = BoundaryEdgeLoss()
    with pytest.raises(ValueError, match='differ in batch size or number of '
                       'classes'):
        loss(_logits(0, c=3), _logits(1, c=4), samples(labels))
    bad = labels.clone()
    bad[0, 0, 0] = 7
    with pytest.raises(ValueError, match='hold class 7 but the logits have 3'):
        loss(_logits(0), _logits(1), samples(bad))
    with pytest.raises(ValueError, match='not an integer multiple'):
        loss(_logits(0, size=5), _logits(1, size=5), samples(labels))
    with pytest.raises(ValueError, match='each needs gt_sem_seg'):
        loss(_logits(0), _logits(1), [object(), object()])
    with pytest.raises(ValueError, match="edge_count must be 'count' or"):
        BoundaryEdgeLoss(edge_count='area')


def test_one_mask_per_batch_shared_by_both_losses():
    from mmkd.methods.bpkd.edge_mask import batch_edge_mask
    labels = _labels()
    batch = samples(labels)
    args = (3, (8, 8), 3, 255, 'detect_then_onehot', 'cpu')
    first = batch_edge_mask(batch, *args)
    assert batch_edge_mask(batch, *args) is first
    # another kernel, or other label tensors with the same content: rebuilt
    assert batch_edge_mask(batch, 3, (8, 8), 5, 255, 'detect_then_onehot',
                           'cpu') is not first
    other = samples(labels.clone())
    again = batch_edge_mask(other, *args)
    assert again is not first
    torch.testing.assert_close(again, first)
