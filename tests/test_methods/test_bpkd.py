# Copyright (c) mmkd contributors. All rights reserved.
import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmkd.methods.bpkd import (BoundaryBodyLoss, BoundaryEdgeLoss,
                               boundary_edge_mask, boundary_masks,
                               label_edges)


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
    mask = boundary_edge_mask(two_regions(), 2, (16, 16), k,
                              order='detect_then_onehot')
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
@pytest.mark.parametrize('ignore_mode', ['outside', 'inside'])
def test_ignore_pixels_are_never_edges(order, ignore_mode):
    labels = two_regions()
    labels[:, :4] = 255  # top rows ignored
    mask = boundary_edge_mask(labels, 2, (16, 16), 3, order=order,
                              ignore_mode=ignore_mode)
    assert mask[0, :, :4].abs().sum() == 0
    assert mask[0, :, 4:].sum() > 0


@pytest.mark.parametrize('order', ['detect_then_onehot', 'onehot_then_detect'])
def test_inside_mode_has_no_band_along_ignored_pixels(order):
    # mmkd's option: a class next to an ignored region (or the padding)
    # has no boundary there
    labels = torch.zeros(1, 16, 16, dtype=torch.long)
    labels[..., 8:] = 255
    edge, body = boundary_masks(labels, 2, (16, 16), 3, order=order,
                                ignore_mode='inside')
    assert edge.sum() == 0
    torch.testing.assert_close(body, torch.ones(1, 2, 16, 16))


def test_class_erodes_into_ignore_blob_weighted_by_valid_fraction():
    # class 0 in columns 0-5, an ignore blob in columns 6-15; k = 3: the
    # dilation of class 0 reaches column 6, its erosion (the ignore pixels
    # are no class) loses column 5 -> band = columns 5 and 6
    labels = torch.zeros(1, 16, 16, dtype=torch.long)
    labels[..., 6:] = 255
    edge, body = boundary_masks(labels, 2, (4, 4), 3)
    # pooled by 4: band fraction P = [0, 2/4, 0, 0] per column of cells,
    # valid fraction v = [1, 2/4, 0, 0]; M_E = P v, M_B = (1 - P) v
    band = torch.tensor([0., 0.5, 0., 0.])
    valid = torch.tensor([1., 0.5, 0., 0.])
    torch.testing.assert_close(edge[0, 0], (band * valid).expand(4, 4))
    torch.testing.assert_close(body[0, 0], ((1 - band) * valid).expand(4, 4))
    # class 1 is absent: no edge, its body weight is the valid fraction
    assert edge[0, 1].sum() == 0
    torch.testing.assert_close(body[0, 1], valid.expand(4, 4))
    # without pooling, M_E is the band on the class's own valid pixels
    full = boundary_edge_mask(labels, 2, (16, 16), 3)
    expected = torch.zeros(16, 16)
    expected[:, 5] = 1
    torch.testing.assert_close(full[0, 0], expected)


def test_padding_gives_each_class_a_band_along_it():
    # two classes split at column 8 on rows 0-11; rows 12-15 are the
    # label padding (255, SegDataPreProcessor's seg_pad_val); k = 3
    labels = two_regions()
    labels[:, 12:] = 255
    edge, body = boundary_masks(labels, 2, (16, 16), 3)
    valid = torch.zeros(16, 16)
    valid[:12] = 1
    # class 0: dilation rows 0-12 x cols 0-8, erosion rows 0-10 x cols 0-6
    # (the image border does not erode); on valid pixels the band is
    # columns 7-8 and row 11 (along the padding)
    class0 = torch.zeros(16, 16)
    class0[:12, 7:9] = 1
    class0[11, :9] = 1
    class1 = torch.zeros(16, 16)
    class1[:12, 7:9] = 1
    class1[11, 7:] = 1
    torch.testing.assert_close(edge[0, 0], class0)
    torch.testing.assert_close(edge[0, 1], class1)
    torch.testing.assert_close(body[0], valid - edge[0])
    # mmkd's option: no band along the padding
    inside = boundary_edge_mask(labels, 2, (16, 16), 3, ignore_mode='inside')
    expected = torch.zeros(16, 16)
    expected[:12, 7:9] = 1
    torch.testing.assert_close(inside[0, 0], expected)


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
    with pytest.raises(ValueError, match="ignore_mode must be one of.*'void'"):
        boundary_edge_mask(two_regions(), 2, (16, 16), ignore_mode='void')


def _logits(seed, n=2, c=3, size=8):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, size, size, generator=g) * 3


def _labels(n=2, size=16):
    labels = torch.zeros(n, size, size, dtype=torch.long)
    labels[:, :, 6:] = 1
    labels[:, 10:, 3:12] = 2
    labels[1, :2] = 255
    return labels


def edge_loss_by_hand(student, teacher, mask, alpha, tau,
                      reduction='sum', tau_squared=True, count='count'):
    """L_E with loops: one (sample, class) term at a time."""
    terms = []
    n, c = student.shape[:2]
    scale = alpha * tau**2 if tau_squared else alpha
    for i in range(n):
        p_t = torch.softmax(teacher[i] * mask[i] / tau, 0)
        p_s = torch.softmax(student[i] * mask[i] / tau, 0)
        kl = (p_t * (p_t.log() - p_s.log())).sum(0)
        for j in range(c):
            edge_pixels = (mask[i, j] > 0).sum()
            if count == 'soft':
                divisor = max(mask[i, j].sum(), 1)
            else:
                divisor = edge_pixels
            if edge_pixels:
                terms.append(scale * (mask[i, j] * kl).sum() / divisor)
    if reduction == 'mean':
        return torch.stack(terms).mean()
    return torch.stack(terms).sum() / n


def test_edge_loss_matches_the_figure():
    student, teacher = _logits(0), _logits(1)
    labels = _labels()
    loss = BoundaryEdgeLoss(tau=2.0, alpha=2.0, kernel_size=3)
    value = loss(student, teacher, samples(labels))
    mask = boundary_edge_mask(labels, 3, (8, 8), 3)
    torch.testing.assert_close(
        value, edge_loss_by_hand(student, teacher, mask, 2.0, 2.0))
    # mmkd's former settings, as options
    old = BoundaryEdgeLoss(tau=2.0, kernel_size=3,
                           edge_order='detect_then_onehot',
                           ignore_mode='inside', class_reduction='mean',
                           tau_squared=False)
    old_mask = boundary_edge_mask(labels, 3, (8, 8), 3,
                                  order='detect_then_onehot',
                                  ignore_mode='inside')
    torch.testing.assert_close(
        old(student, teacher, samples(labels)),
        edge_loss_by_hand(student, teacher, old_mask, 2.0, 2.0, 'mean',
                          False))
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
    body = boundary_masks(labels, 3, (8, 8), 3)[1]
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
    args = (3, (8, 8), 3, 255, 'onehot_then_detect', 'outside', 'cpu')
    first = batch_edge_mask(batch, *args)
    assert batch_edge_mask(batch, *args) is first
    # another kernel or ignore mode, or other label tensors with the same
    # content: rebuilt
    assert batch_edge_mask(batch, 3, (8, 8), 5, 255, 'onehot_then_detect',
                           'outside', 'cpu') is not first
    assert batch_edge_mask(batch, 3, (8, 8), 3, 255, 'onehot_then_detect',
                           'inside', 'cpu') is not first
    other = samples(labels.clone())
    again = batch_edge_mask(other, *args)
    assert again is not first
    torch.testing.assert_close(again, first)


def test_defaults_are_the_references():
    edge, body = BoundaryEdgeLoss(), BoundaryBodyLoss()
    assert (edge.edge_order, edge.ignore_mode, edge.class_reduction,
            edge.tau_squared, edge.edge_count) == (
                'onehot_then_detect', 'outside', 'sum', True, 'count')
    assert (body.edge_order, body.ignore_mode, body.tau) == (
        'onehot_then_detect', 'outside', 1.0)


def test_edge_loss_multiplies_the_kl_by_tau_squared():
    student, teacher = _logits(0), _logits(1)
    labels = _labels()
    mask = boundary_edge_mask(labels, 3, (8, 8), 3)
    value = BoundaryEdgeLoss(tau=2.0, kernel_size=3)(student, teacher,
                                                     samples(labels))
    plain = BoundaryEdgeLoss(tau=2.0, kernel_size=3, tau_squared=False)(
        student, teacher, samples(labels))
    # tau 2: the same KL at temperature 2, times 4
    torch.testing.assert_close(value, 4 * plain)
    torch.testing.assert_close(
        plain, edge_loss_by_hand(student, teacher, mask, 2.0, 2.0,
                                 tau_squared=False))


def test_edge_loss_sums_over_classes_and_averages_over_samples():
    # two samples, two classes, each with its edge: 4 (sample, class) terms
    labels = two_regions(n=2)
    labels[1, :, 4:] = 1
    student, teacher = _logits(0, c=2, size=4), _logits(1, c=2, size=4)
    mask = boundary_edge_mask(labels, 2, (4, 4), 3)
    assert ((mask > 0).flatten(2).sum(2) > 0).all()
    total = BoundaryEdgeLoss(kernel_size=3)(student, teacher,
                                            samples(labels))
    mean = BoundaryEdgeLoss(kernel_size=3, class_reduction='mean')(
        student, teacher, samples(labels))
    torch.testing.assert_close(
        total, edge_loss_by_hand(student, teacher, mask, 2.0, 1.0, 'sum'))
    torch.testing.assert_close(
        mean, edge_loss_by_hand(student, teacher, mask, 2.0, 1.0, 'mean'))
    # sum over 2 classes / 2 samples against the mean of 4 terms
    torch.testing.assert_close(total, 2 * mean)


def test_soft_edge_count_is_clamped_at_one():
    # a 2x2 block of class 1 at the centre of 16x16 labels, logits 2x2:
    # k = 3 gives each class a 4x4 band, 4 pixels of 64 in each cell, so
    # M_E = 1/16 in all 4 cells: a mask sum of 1/4, 4 edge cells
    labels = torch.zeros(1, 16, 16, dtype=torch.long)
    labels[:, 7:9, 7:9] = 1
    mask = boundary_edge_mask(labels, 2, (2, 2), 3)
    torch.testing.assert_close(mask, torch.full((1, 2, 2, 2), 1 / 16))
    student, teacher = _logits(0, n=1, c=2, size=2), _logits(1, n=1, c=2,
                                                              size=2)
    soft = BoundaryEdgeLoss(kernel_size=3, edge_count='soft')(
        student, teacher, samples(labels))
    count = BoundaryEdgeLoss(kernel_size=3)(student, teacher,
                                            samples(labels))
    expected = edge_loss_by_hand(student, teacher, mask, 2.0, 1.0,
                                 count='soft')
    torch.testing.assert_close(soft, expected)
    # divided by 1 (the clamp), not by the sum 1/4 nor the count 4
    torch.testing.assert_close(soft, 4 * count)


def test_body_loss_default_tau_is_one_and_uses_valid_fraction():
    student, teacher = _logits(0), _logits(1)
    labels = _labels()
    labels[:, 12:] = 255  # padding
    value = BoundaryBodyLoss(kernel_size=3)(student, teacher,
                                            samples(labels))
    edge, body = boundary_masks(labels, 3, (8, 8), 3)
    valid = F.avg_pool2d((labels != 255)[:, None].float(), 2)
    torch.testing.assert_close(body, (1 - edge / valid.clamp(min=1e-12)) *
                               valid)
    s = (student * body).flatten(2)
    t = (teacher * body).flatten(2)
    p_t = t.softmax(2)
    kl = (p_t * (t.log_softmax(2) - s.log_softmax(2))).sum(2)
    torch.testing.assert_close(value, kl.mean())
