# Copyright (c) mmkd contributors. All rights reserved.
"""A negative ``loss_weight`` would push the student away from the teacher:
every mmkd loss refuses it at build time; zero stays valid."""
import inspect

import pytest
import torch.nn as nn

import mmkd.methods.bpkd  # noqa: F401
import mmkd.methods.lpld  # noqa: F401
import mmkd.methods.transkd  # noqa: F401
import mmkd.methods.unidistill  # noqa: F401
from mmkd.registry import MODELS

PCR = [-8.0, -8.0, -3.0, 8.0, 8.0, 1.0]
# each loss mmkd registers, with its required arguments
LOSSES = dict(
    KLDivergence=dict(),
    ChannelWiseDivergence=dict(),
    MSEFeatureLoss=dict(),
    L1FeatureLoss=dict(),
    CosineSimilarityLoss=dict(),
    GramMatrixLoss=dict(),
    BoundaryEdgeLoss=dict(tau=1.0),
    BoundaryBodyLoss=dict(tau=1.0),
    LPLDLoss=dict(),
    BEVKeypointFeatureLoss=dict(point_cloud_range=PCR),
    BEVKeypointRelationLoss=dict(point_cloud_range=PCR),
    BEVResponseLoss=dict(point_cloud_range=PCR),
    HierarchicalContextLoss=dict(),
    WeightedEmbeddingLoss=dict(),
    ClassWeightedCrossEntropyLoss=dict(class_weight=[1.0, 2.0]),
    AsymmetricLoss=dict(),
)


def takes_loss_weight(cls):
    # through ``*args, **kwargs`` subclasses and mixins
    return any('loss_weight' in inspect.signature(base.__init__).parameters
               for base in cls.__mro__
               if issubclass(base, nn.Module) and base is not nn.Module)


def test_every_loss_is_covered():
    """A new loss must be added to LOSSES above."""
    registered = {
        name
        for name, cls in MODELS.module_dict.items()
        if inspect.isclass(cls) and issubclass(cls, nn.Module) and (
            name.endswith(('Loss', 'Divergence')) or takes_loss_weight(cls))
    }
    assert registered == set(LOSSES)


@pytest.mark.parametrize('name', sorted(LOSSES))
def test_negative_loss_weight_refused(name):
    cfg = dict(type=name, **LOSSES[name])
    with pytest.raises(ValueError,
                       match=rf'{name}: loss_weight must be >= 0 .*got -0\.5'):
        MODELS.build(dict(cfg, loss_weight=-0.5))
    assert MODELS.build(dict(cfg, loss_weight=0.0)).loss_weight == 0.0
    assert MODELS.build(dict(cfg, loss_weight=2)).loss_weight == 2


def test_nan_loss_weight_refused():
    with pytest.raises(ValueError, match='loss_weight must be >= 0'):
        MODELS.build(dict(type='KLDivergence', loss_weight=float('nan')))
