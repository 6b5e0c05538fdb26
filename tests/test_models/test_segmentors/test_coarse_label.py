# Copyright (c) mmkd contributors. All rights reserved.
"""mmkd.CoarseLabelEncoderDecoder: head losses on the logits' grid."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmkd.evaluation import nearest_labels
from mmkd.registry import MODELS

WEIGHT = [1.0, 3.0, 0.5]


def _model(seg_type='mmkd.CoarseLabelEncoderDecoder', **head):
    init_default_scope('mmseg')
    decode_head = dict(
        type='SegformerHead',
        in_channels=[8, 16, 40, 64],
        in_index=[0, 1, 2, 3],
        channels=16,
        dropout_ratio=0.0,
        num_classes=3,
        norm_cfg=dict(type='BN', requires_grad=True),
        align_corners=False,
        loss_decode=dict(
            type='mmkd.ClassWeightedCrossEntropyLoss', class_weight=WEIGHT))
    decode_head.update(head)
    cfg = dict(
        type=seg_type,
        data_preprocessor=dict(
            type='SegDataPreProcessor', mean=[0.] * 3, std=[255.] * 3,
            size=(32, 64)),
        backbone=dict(
            type='MixVisionTransformer', embed_dims=8,
            num_layers=[1, 1, 1, 1], num_heads=[1, 2, 5, 8]),
        decode_head=decode_head)
    torch.manual_seed(0)
    return MODELS.build(cfg)


def _batch(model):
    torch.manual_seed(1)
    samples = []
    for _ in range(2):
        label = torch.randint(0, 3, (1, 32, 64))
        label[:, :2] = 255
        samples.append(
            SegDataSample(
                metainfo=dict(img_shape=(32, 64)),
                gt_sem_seg=PixelData(data=label)))
    inputs = [torch.randint(0, 256, (3, 32, 64), dtype=torch.uint8)
              for _ in range(2)]
    return model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), True)


def test_loss_on_logits_grid_against_downsampled_labels():
    model = _model()
    model.eval()  # no dropout / batch-stat drift between the two passes
    data = _batch(model)
    loss = model.loss(data['inputs'], data['data_samples'])['decode.loss_ce']
    logits = model.decode_head(model.extract_feat(data['inputs']))
    assert logits.shape[-2:] == (8, 16)  # stride 4
    labels = torch.cat([s.gt_sem_seg.data for s in data['data_samples']])
    small = nearest_labels(labels, (8, 16))
    expected = F.nll_loss(
        logits.log_softmax(1), small, torch.tensor(WEIGHT),
        ignore_index=255)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    # the samples keep their full-size labels
    assert data['data_samples'][0].gt_sem_seg.data.shape[-2:] == (32, 64)
    # mmseg's EncoderDecoder upsamples the logits instead: another value
    mmseg_model = _model('EncoderDecoder')
    mmseg_model.load_state_dict(model.state_dict())
    mmseg_model.eval()
    other = mmseg_model.loss(data['inputs'],
                             data['data_samples'])['decode.loss_ce']
    assert abs(other.item() - loss.item()) > 1e-4


def test_head_with_its_own_loss_is_refused():
    init_default_scope('mmseg')
    with pytest.raises(TypeError, match=r'decode_head \(OCRHead\) .*loss'):
        MODELS.build(
            dict(
                type='mmkd.CoarseLabelEncoderDecoder',
                backbone=dict(type='MixVisionTransformer', embed_dims=8,
                              num_layers=[1, 1, 1, 1]),
                decode_head=dict(
                    type='OCRHead', in_channels=64, channels=16,
                    ocr_channels=8, num_classes=3, in_index=3)))
