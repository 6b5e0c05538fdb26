# Copyright (c) mmkd contributors. All rights reserved.
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmkd.evaluation import BoundaryIoUMetric, inner_boundary
from mmkd.registry import METRICS


def square(size=12, lo=3, hi=9):
    mask = torch.zeros(size, size, dtype=torch.bool)
    mask[lo:hi, lo:hi] = True
    return mask


def test_inner_boundary_is_the_ring_inside_the_contour():
    band = inner_boundary(square(), 1)
    # a 6x6 square: its 1-pixel inner ring has 6*4 - 4 = 20 pixels
    assert band.sum() == 20
    assert not band[4:8, 4:8].any() and band[3, 3:9].all()
    assert inner_boundary(square(), 2).sum() == 36 - 4  # all but the 2x2 core
    # the image border is not a contour; an unknown region is not either
    full = torch.ones(5, 5, dtype=torch.bool)
    assert inner_boundary(full, 1).sum() == 0
    left = torch.zeros(5, 5, dtype=torch.bool)
    left[:, :3] = True
    unknown = ~left
    assert inner_boundary(left, 1, unknown).sum() == 0
    assert inner_boundary(left, 1).sum() == 5  # column 2


def _sample(pred, label):
    return SegDataSample(
        pred_sem_seg=PixelData(data=pred[None]),
        gt_sem_seg=PixelData(data=label[None])).to_dict()


def _evaluate(metric, pairs):
    metric.dataset_meta = dict(classes=('background', 'square'))
    for pred, label in pairs:
        metric.process({}, [_sample(pred, label)])
    return metric.evaluate(len(pairs))


def test_perfect_prediction_scores_100():
    label = square().long()
    out = _evaluate(BoundaryIoUMetric(boundary_width=1), [(label, label)])
    assert out['mBIoU'] == 100.0 and out['mIoU'] == 100.0


def test_shifted_square_by_hand():
    label = square().long()
    pred = torch.roll(label, 1, dims=1)  # the square one column right
    out = _evaluate(BoundaryIoUMetric(boundary_width=1), [(pred, label)])
    # square class: rings of 20 pixels each, sharing rows 3 and 8 in
    # columns 4..8
    gt_ring = inner_boundary(label == 1, 1)
    pred_ring = inner_boundary(pred == 1, 1)
    inter_sq = (gt_ring & pred_ring).sum().item()
    union_sq = (gt_ring | pred_ring).sum().item()
    assert inter_sq == 2 * 5 + 0  # rows 3 and 8, columns 4..8
    gt_bg = inner_boundary(label == 0, 1)
    pred_bg = inner_boundary(pred == 0, 1)
    inter_bg = (gt_bg & pred_bg).sum().item()
    union_bg = (gt_bg | pred_bg).sum().item()
    expected = 100 * (inter_sq / union_sq + inter_bg / union_bg) / 2
    assert out['mBIoU'] == pytest.approx(round(expected, 2))
    assert out['mBIoU'] < out['mIoU']  # boundaries are harder


def test_ignored_pixels_count_in_neither_set():
    label = square().long()
    pred = label.clone()
    label[:, :6] = 255  # left half unknown
    pred[:, :6] = 0  # whatever is predicted there does not matter
    out = _evaluate(BoundaryIoUMetric(boundary_width=1), [(pred, label)])
    assert out['mBIoU'] == 100.0


def test_width_from_the_diagonal_and_bad_width():
    metric = METRICS.build(dict(type='BoundaryIoUMetric'))
    assert metric.band_width(1024, 2048) == round(0.02 * (1024**2 +
                                                           2048**2)**0.5)
    assert metric.band_width(8, 8) == 1
    with pytest.raises(ValueError, match='boundary_width must be'):
        BoundaryIoUMetric(boundary_width=1.5)
