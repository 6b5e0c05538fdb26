# Copyright (c) mmkd contributors. All rights reserved.
import pytest
import torch
from mmseg.models.losses import CrossEntropyLoss

from mmkd.models.losses import ClassWeightedCrossEntropyLoss

WEIGHT = [1.0, 2.0, 5.0]


def _batch():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 4, 5)
    label = torch.randint(0, 3, (2, 4, 5))
    label[0, 0] = 255
    return logits, label


def test_weighted_mean_over_counted_pixels_as_nllloss():
    logits, label = _batch()
    loss = ClassWeightedCrossEntropyLoss(WEIGHT, loss_weight=2.0)
    expected = torch.nn.NLLLoss(torch.tensor(WEIGHT), ignore_index=255)(
        logits.log_softmax(1), label)
    assert loss(logits, label, ignore_index=255) == pytest.approx(
        2 * expected.item(), rel=1e-6)
    assert loss.loss_name == 'loss_ce'


def test_mmseg_loss_fails_on_ignored_pixels_this_one_does_not():
    logits, label = _batch()
    with pytest.raises(IndexError):
        CrossEntropyLoss(class_weight=WEIGHT, avg_non_ignore=True)(
            logits, label, ignore_index=255)
    all_ignored = torch.full_like(label, 255)
    loss = ClassWeightedCrossEntropyLoss(WEIGHT)
    assert loss(logits, all_ignored, ignore_index=255).item() == 0


def test_bad_input():
    logits, label = _batch()
    with pytest.raises(ValueError, match=r'2 class weights .* \(3 classes'):
        ClassWeightedCrossEntropyLoss([1.0, 2.0])(logits, label)
    with pytest.raises(ValueError, match='per-pixel weights'):
        ClassWeightedCrossEntropyLoss(WEIGHT)(
            logits, label, weight=torch.ones_like(label).float())
    with pytest.raises(ValueError, match='class_weight'):
        ClassWeightedCrossEntropyLoss([])
