# Copyright (c) mmkd contributors. All rights reserved.
"""UniDistill's key points, Gaussian mask and losses on hand-made tensors."""
import math

import pytest
import torch
from mmdet3d.models.utils import draw_heatmap_gaussian
from mmdet3d.models.utils import gaussian_radius as mmdet3d_radius
from mmdet3d.structures import Det3DDataSample, LiDARInstance3DBoxes
from mmengine.structures import InstanceData

from mmkd.methods.unidistill import (BEVKeypointFeatureLoss,
                                     BEVKeypointRelationLoss, BEVResponseLoss)
from mmkd.models.utils import (box_keypoints, gaussian_box_mask,
                               resample_bev, sample_keypoints)

# an 8 m x 8 m grid of 1 m cells: cell (ix, iy) has its centre at
# (ix + 0.5, iy + 0.5)
PCR = [0., 0., -5., 8., 8., 3.]


def boxes(*rows):
    """(N, 9) LiDAR boxes from (x, y, l, w, yaw) rows."""
    t = torch.zeros(len(rows), 9)
    for i, (x, y, l, w, yaw) in enumerate(rows):
        t[i, [0, 1, 3, 4, 5, 6]] = torch.tensor([x, y, l, w, 1.5, yaw])
    return t


def samples(*per_sample):
    out = []
    for rows in per_sample:
        s = Det3DDataSample()
        s.gt_instances_3d = InstanceData(
            bboxes_3d=LiDARInstance3DBoxes(boxes(*rows) if rows else
                                           torch.zeros(0, 9), box_dim=9),
            labels_3d=torch.zeros(len(rows), dtype=torch.long))
        out.append(s)
    return out


def test_key_points_of_an_axis_aligned_box():
    kp = box_keypoints(boxes((1., 2., 4., 2., 0.)))
    expected = [(-1, 1), (-1, 3), (3, 3), (3, 1), (1, 2), (-1, 2), (1, 3),
                (3, 2), (1, 1)]
    assert torch.allclose(kp[0], torch.tensor(expected, dtype=torch.float))


def test_key_points_of_a_rotated_box():
    # yaw 90 degrees turns the 4 m length onto the y axis
    kp = box_keypoints(boxes((1., 2., 4., 2., math.pi / 2)))
    expected = [(2, 0), (0, 0), (0, 4), (2, 4), (1, 2), (1, 0), (0, 2),
                (1, 4), (2, 2)]
    assert torch.allclose(
        kp[0], torch.tensor(expected, dtype=torch.float), atol=1e-5)
    # the corners are mmdet3d's own BEV corners of the box, at any yaw
    b = boxes((3., -1., 4.5, 1.9, 0.3))
    corners = LiDARInstance3DBoxes(b, box_dim=9).corners[0, [0, 3, 4, 7],
                                                         :2]
    ours = box_keypoints(b)[0, :4]
    dist = torch.cdist(ours, corners)
    assert dist.min(dim=1).values.max() < 1e-5


def cell_map():
    """A (1, 2, 8, 8) map whose channel 0 is 10 * row + column."""
    rows, cols = torch.meshgrid(
        torch.arange(8.), torch.arange(8.), indexing='ij')
    return torch.stack([10 * rows + cols, torch.ones(8, 8)])[None]


def test_default_sampling_reads_the_boxes_own_cells():
    # a point at the centre of cell (ix=6, iy=1) reads row 1, column 6
    point = [torch.tensor([[[6.5, 1.5]]])]
    value, valid = sample_keypoints(cell_map(), point, PCR)
    assert valid.tolist() == [[True]]
    assert value[0, 0].tolist() == [16., 1.]
    # the official x/y swap reads the mirror image across the diagonal
    mirrored, _ = sample_keypoints(
        cell_map(), point, PCR, faithful_xy_swap=True)
    assert mirrored[0, 0, 0].item() == 61.
    # between centres it interpolates bilinearly
    half, _ = sample_keypoints(cell_map(), [torch.tensor([[[6., 1.5]]])],
                               PCR)
    assert half[0, 0, 0].item() == pytest.approx(15.5)


def test_gaussian_mask_equals_mmdet3d_drawn_per_box():
    rows = [(3.2, 4.7, 4.5, 1.9, 0.2), (0.4, 7.9, 0.7, 0.7, 0.),
            (7.5, 0.2, 12.0, 3.0, 1.0), (5.0, 5.0, 2.0, 2.0, 0.)]
    b = boxes(*rows)
    for min_overlap, min_radius in ((0.7, 0), (0.1, 2)):
        mask = gaussian_box_mask([b, b[:1], b[:0]], (16, 16), PCR,
                                 min_overlap, min_radius)
        for i, sample in enumerate([b, b[:1], b[:0]]):
            expected = torch.zeros(16, 16)
            for box in sample:
                radius = mmdet3d_radius(
                    (box[3] / 0.5, box[4] / 0.5), min_overlap=min_overlap)
                radius = max(min_radius, int(radius))
                center = torch.tensor([int(box[0] / 0.5), int(box[1] / 0.5)])
                draw_heatmap_gaussian(expected, center, radius)
            assert torch.allclose(mask[i], expected, atol=1e-6)
    assert gaussian_box_mask([b[:0]], (4, 4), PCR).sum() == 0


# a box whose nine key points are cell centres: x in 2.5..4.5, y in 3.5..5.5
BOX = (3.5, 4.5, 2., 2., 0.)
CELLS = [(2, 3), (2, 5), (4, 5), (4, 3), (3, 4), (2, 4), (3, 5), (4, 4),
         (3, 3)]  # (ix, iy) in key-point order


def at_cells(feat, cells):
    """(K, C) features of a (C, H, W) map at (ix, iy) cells."""
    return torch.stack([feat[:, iy, ix] for ix, iy in cells])


def test_feature_loss_equals_its_formula():
    torch.manual_seed(0)
    s, t = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8)
    # sample 0 has the box, sample 1 has it and a second one at (5.5, 2.5)
    cells2 = [(ix + 2, iy - 2) for ix, iy in CELLS]
    loss = BEVKeypointFeatureLoss(PCR, loss_weight=3.)(
        s, t, samples([BOX], [BOX, (5.5, 2.5, 2., 2., 0.)]))
    per_box = [
        (at_cells(s[0], CELLS) - at_cells(t[0], CELLS)).abs().mean(),
        (at_cells(s[1], CELLS) - at_cells(t[1], CELLS)).abs().mean(),
        (at_cells(s[1], cells2) - at_cells(t[1], cells2)).abs().mean()
    ]
    # a float, not a 0-d tensor: pytest>=9 iterates tensors given to approx
    expected = 3 * sum(per_box).item() / (3 + 1e-4)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_relation_loss_equals_its_formula():
    torch.manual_seed(1)
    s, t = torch.randn(1, 5, 8, 8), torch.randn(1, 5, 8, 8)
    loss = BEVKeypointRelationLoss(PCR)(s, t, samples([BOX]))

    def relation(feat):
        x = at_cells(feat[0], CELLS)
        x = x / (x.norm(dim=1, keepdim=True) + 1e-4)
        return x @ x.T

    expected = (relation(s) - relation(t)).abs().mean() / (1 + 1e-4)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def head_outputs(seed, classes=(1, 2), size=8):
    g = torch.Generator().manual_seed(seed)
    tasks = []
    for n in classes:
        tasks.append({
            k: torch.randn(1, c, size, size, generator=g)
            for k, c in (('reg', 2), ('height', 1), ('dim', 3), ('rot', 2),
                         ('vel', 2), ('heatmap', n))
        })
    return tuple([t] for t in tasks)  # CenterHead: tasks, then levels


def test_response_loss_equals_its_formula():
    student, teacher = head_outputs(0), head_outputs(1)
    data = samples([BOX, (6.2, 1.3, 4.5, 1.9, 0.5)])
    loss = BEVResponseLoss(PCR, loss_weight=10.)(student, teacher, data)

    def maps(outs, temperature):
        tasks = [t[0] for t in outs]
        hm = torch.cat([t['heatmap'] for t in tasks], 1) / temperature
        cls = hm.sigmoid().clamp(1e-4, 1 - 1e-4).max(dim=1).values
        reg = torch.cat([
            t[k] for t in tasks
            for k in ('reg', 'height', 'dim', 'rot', 'vel')
        ], 1)
        return cls, reg

    s_cls, s_reg = maps(student, 1.)
    t_cls, t_reg = maps(teacher, 2.)
    mask = gaussian_box_mask(
        [data[0].gt_instances_3d.bboxes_3d.tensor], (8, 8), PCR)
    assert mask.sum() > 1
    norm = mask.sum() + 1e-4
    expected = ((s_cls - t_cls).abs() * mask).sum() / norm + (
        (s_reg - t_reg).abs().mean(1) * mask).sum() / norm
    assert loss.item() == pytest.approx(10 * expected.item(), rel=1e-5)


def test_losses_are_zero_for_identical_teacher_and_student():
    torch.manual_seed(2)
    feat = torch.randn(1, 4, 8, 8)
    data = samples([BOX])
    assert BEVKeypointFeatureLoss(PCR)(feat, feat.clone(), data) == 0
    assert BEVKeypointRelationLoss(PCR)(feat, feat.clone(), data).item() \
        == pytest.approx(0, abs=1e-6)
    outs = head_outputs(3)
    # UniDistill softens only the teacher (sigmoid(logit / 2)): identical
    # logits agree at temperature 1 and differ at the default 2
    assert BEVResponseLoss(PCR, teacher_temperature=1.)(outs, outs,
                                                        data) == 0
    assert BEVResponseLoss(PCR)(outs, outs, data) > 0


def test_boxes_outside_the_grid_are_dropped():
    torch.manual_seed(3)
    s, t = torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8)
    outside = (20., 4., 4., 2., 0.)  # centre beyond x1 = 8
    for loss in (BEVKeypointFeatureLoss(PCR), BEVKeypointRelationLoss(PCR)):
        assert loss(s, t, samples([BOX, outside])).item() == pytest.approx(
            loss(s, t, samples([BOX])).item())
        assert loss(s, t, samples([outside])) == 0
    outs_s, outs_t = head_outputs(4), head_outputs(5)
    response = BEVResponseLoss(PCR)
    assert response(outs_s, outs_t, samples([BOX, outside])).item() == \
        pytest.approx(response(outs_s, outs_t, samples([BOX])).item())


def test_no_boxes_gives_zero_loss_and_a_finite_gradient():
    s = torch.randn(2, 4, 8, 8, requires_grad=True)
    outs = head_outputs(6)
    for outs_s in outs:
        for v in outs_s[0].values():
            v.requires_grad_(True)
    data = samples([], [])
    for loss in (BEVKeypointFeatureLoss(PCR)(s, torch.randn(2, 4, 8, 8),
                                             data),
                 BEVKeypointRelationLoss(PCR)(s, torch.randn(2, 4, 8, 8),
                                              data),
                 BEVResponseLoss(PCR)(outs, head_outputs(7),
                                      samples([]))):
        assert loss.item() == 0 and torch.isfinite(loss)
        loss.backward()
    assert torch.isfinite(s.grad).all() and s.grad.abs().sum() == 0


def test_gradients_reach_only_the_student():
    data = samples([BOX])
    s = torch.randn(1, 4, 8, 8, requires_grad=True)
    t = torch.randn(1, 4, 8, 8, requires_grad=True)
    for loss in (BEVKeypointFeatureLoss(PCR), BEVKeypointRelationLoss(PCR)):
        s.grad = t.grad = None
        loss(s, t, data).backward()
        assert s.grad.abs().sum() > 0 and t.grad is None
    outs_s, outs_t = head_outputs(8), head_outputs(9)
    for outs in (outs_s, outs_t):
        for task in outs:
            for v in task[0].values():
                v.requires_grad_(True)
    BEVResponseLoss(PCR)(outs_s, outs_t, data).backward()
    assert outs_s[0][0]['heatmap'].grad.abs().sum() > 0
    assert outs_s[1][0]['vel'].grad.abs().sum() > 0
    assert all(v.grad is None for task in outs_t for v in task[0].values())


def test_a_teacher_on_another_grid_needs_a_declared_resampling():
    student = head_outputs(10, size=8)
    teacher = head_outputs(11, size=16)  # 0.5 m cells on the same range
    data = samples([BOX])
    with pytest.raises(ValueError, match='resample_teacher=True'):
        BEVResponseLoss(PCR)(student, teacher, data)
    loss = BEVResponseLoss(PCR, resample_teacher=True)(student, teacher,
                                                       data)
    # resampling a 2x finer map at the coarse cell centres averages 2x2
    coarse = tuple([{
        k: torch.nn.functional.avg_pool2d(v, 2)
        for k, v in task[0].items()
    }] for task in teacher)
    assert loss.item() == pytest.approx(
        BEVResponseLoss(PCR)(student, coarse, data).item(), rel=1e-5)
    # key points are read in metres, at any resolution
    s = torch.randn(1, 4, 8, 8)
    fine = torch.nn.functional.interpolate(s, scale_factor=2,
                                           mode='nearest')
    assert BEVKeypointFeatureLoss(PCR, resample_teacher=True)(
        s, fine, data).item() == pytest.approx(0, abs=1e-6)


def test_resample_bev_moves_a_map_between_ranges():
    # a map over x, y in [0, 8] read on [4, 8]: the right/top half
    src = cell_map()
    out = resample_bev(src, PCR, [4., 4., -5., 8., 8., 3.], (4, 4))
    assert torch.equal(out, src[:, :, 4:, 4:])


def test_bad_inputs_name_what_is_wrong():
    with pytest.raises(ValueError, match='point_cloud_range'):
        BEVKeypointFeatureLoss([0, 0, 8, 8])
    with pytest.raises(ValueError, match='differ in batch or channels'):
        BEVKeypointFeatureLoss(PCR)(
            torch.randn(1, 4, 8, 8), torch.randn(1, 6, 8, 8), samples([BOX]))
    with pytest.raises(ValueError, match='reads one map'):
        BEVKeypointFeatureLoss(PCR)([torch.randn(1, 4, 8, 8)] * 2,
                                    [torch.randn(1, 4, 8, 8)] * 2,
                                    samples([BOX]))
    with pytest.raises(ValueError, match='data_samples'):
        BEVKeypointFeatureLoss(PCR)(torch.randn(1, 4, 8, 8),
                                    torch.randn(1, 4, 8, 8))
    with pytest.raises(ValueError, match='1 classes'):
        BEVResponseLoss(PCR)(head_outputs(0, classes=(1, )),
                             head_outputs(0, classes=(2, )), samples([BOX]))
