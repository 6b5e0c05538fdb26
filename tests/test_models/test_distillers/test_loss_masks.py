# Copyright (c) mmkd contributors. All rights reserved.
"""A loss config's ``mask=`` weights the loss by a ground-truth map."""
import pytest
import torch
import torch.nn as nn
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmkd.models.distillers import Distiller


class Toy(nn.Module):

    def __init__(self):
        super().__init__()
        self.feat = nn.Conv2d(1, 2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return self.feat(inputs)


def distiller(**loss_extra):
    return Distiller(
        Toy(), Toy(),
        taps=dict(student=dict(f='feat'), teacher=dict(f='feat')),
        losses=dict(mse=dict(type='MSEFeatureLoss', student='f',
                             teacher='f', **loss_extra)))


def seg_sample(labels):
    sample = SegDataSample()
    sample.gt_sem_seg = PixelData(data=torch.tensor(labels)[None])
    return sample


def test_mask_weights_the_loss_by_formula():
    torch.manual_seed(0)
    s, t = torch.randn(1, 2, 2, 2), torch.randn(1, 2, 2, 2)
    samples = [seg_sample([[1, 0], [1, 1]])]
    mask = torch.tensor([[1., 0.], [1., 1.]])
    squared = (s - t)**2 * mask
    model = distiller(mask=dict(type='SegClassMask', classes=[1]))
    loss = model.compute_distill_losses(dict(f=s), dict(f=t), samples)
    # mean over all 8 elements, the unmasked ones counting 0
    assert loss['distill.loss_mse'].item() == pytest.approx(
        squared.sum().item() / 8, rel=1e-6)
    model = distiller(
        mask=dict(type='SegClassMask', classes=[1]), mask_average=True)
    loss = model.compute_distill_losses(dict(f=s), dict(f=t), samples)
    # mean over the 3 masked cells x 2 channels
    assert loss['distill.loss_mse'].item() == pytest.approx(
        squared.sum().item() / 6, rel=1e-6)


def test_mask_errors_at_build_and_on_missing_ground_truth():
    with pytest.raises(KeyError, match='NoSuchMask'):
        distiller(mask=dict(type='NoSuchMask'))
    model = distiller(mask=dict(type='SegClassMask'))
    with pytest.raises(KeyError, match=r'SegClassMask needs gt_sem_seg.data'):
        model.compute_distill_losses(
            dict(f=torch.zeros(1, 2, 2, 2)), dict(f=torch.zeros(1, 2, 2, 2)),
            [SegDataSample()])
    with pytest.raises(TypeError, match='takes no `weight`'):
        Distiller(
            Toy(), Toy(),
            taps=dict(student=dict(f='feat'), teacher=dict(f='feat')),
            losses=dict(e=dict(type='BoundaryEdgeLoss', student='f',
                               teacher='f', mask=dict(type='SegClassMask'))))
