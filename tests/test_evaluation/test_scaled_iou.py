# Copyright (c) mmkd contributors. All rights reserved.
"""mmkd.IoUMetric: mmseg's metric at label_scale=1, TransKD's
quarter-resolution scoring otherwise."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.evaluation import IoUMetric as MMSegIoUMetric
from mmseg.structures import SegDataSample

from mmkd.evaluation import IoUMetric, nearest_labels, scaled_size
from mmkd.registry import METRICS

CLASSES = ('a', 'b')


def _sample(pred, label, img_shape):
    sample = SegDataSample(
        metainfo=dict(img_shape=img_shape, ori_shape=tuple(label.shape)),
        pred_sem_seg=PixelData(data=pred[None]),
        gt_sem_seg=PixelData(data=label[None]))
    return sample.to_dict()


def _miou(metric, pred, label, img_shape):
    metric.dataset_meta = dict(classes=CLASSES)
    metric.process({}, [_sample(pred, label, img_shape)])
    return metric.compute_metrics(metric.results)['mIoU']


def _centres_only(size, step):
    """A label map of class 1 on cell centres (``step`` apart) and class
    0 elsewhere, and a prediction right only on those centres."""
    label = torch.zeros(size, size, dtype=torch.long)
    centres = torch.arange(step // 2, size, step)
    label[centres[:, None], centres] = 1
    pred = torch.ones_like(label)
    pred[:, :] = 1 - label
    pred[centres[:, None], centres] = 1
    return pred, label


def test_quarter_grid_samples_cell_centres():
    # input 8x8 scored on 2x2: the pixels under the centres, (2|6, 2|6)
    pred, label = _centres_only(8, 4)
    assert _miou(IoUMetric(label_scale=0.25), pred, label, (8, 8)) == 100
    # mmseg's full-resolution score of the same maps: class 1 IoU 4/64,
    # class 0 IoU 0
    full = _miou(MMSegIoUMetric(), pred, label, (8, 8))
    assert full == pytest.approx(100 * (4 / 64) / 2, abs=0.01)
    assert _miou(IoUMetric(), pred, label, (8, 8)) == full


def test_grid_is_relative_to_the_input_not_the_annotation():
    # a 16x16 annotation whose image was resized to 8x8 (as Cityscapes'
    # 1024x2048 labels for a 512x1024 input): scored on 2x2, 1/8 of it,
    # at pixels 4 and 12
    pred, label = _centres_only(16, 8)
    assert _miou(IoUMetric(label_scale=0.25), pred, label, (8, 8)) == 100
    # on a 4x4 grid (1/4 of the annotation) the centres are 2, 6, 10, 14
    assert _miou(IoUMetric(label_scale=0.25), pred, label, (16, 16)) < 100


def test_ignored_pixels_count_in_no_class():
    pred = torch.zeros(8, 8, dtype=torch.long)
    label = torch.zeros(8, 8, dtype=torch.long)
    label[:4] = 255  # the top row of cells: predicted 0, ignored
    label[4:, :4] = 1
    pred[4:, :4] = 1
    assert _miou(IoUMetric(label_scale=0.25), pred, label, (8, 8)) == 100


def test_scaled_size_rounds_halves_up_as_official():
    # ACDC: 1080x1920 resized to 512x910, labels int(910 / 4 + 0.5) wide
    assert scaled_size((512, 910), 0.25) == (128, 228)
    assert scaled_size((3, 512, 1024), 0.25) == (128, 256)


def test_nearest_labels_takes_pixel_under_cell_centre():
    label = torch.arange(64).reshape(8, 8)
    out = nearest_labels(label, (2, 2))
    assert out.tolist() == [[18, 22], [50, 54]]
    assert out.dtype == label.dtype
    # torch's plain nearest would take the top-left pixels 0, 4, 32, 36
    plain = F.interpolate(label[None, None].float(), (2, 2))[0, 0]
    assert plain.tolist() == [[0, 4], [32, 36]]


def test_upsampled_logits_sampled_at_centres_match_the_raw_argmax():
    """mmseg's prediction (logits bilinearly upsampled x4 to the input,
    then x2 to the annotation) sampled as the metric does agrees with the
    argmax of the raw stride-4 logits but where classes nearly tie; the
    top-left pixel of each cell (torch's plain nearest) agrees less."""
    torch.manual_seed(0)
    # spatially smooth logits, as a network's are
    logits = F.interpolate(
        torch.randn(1, 19, 8, 16), (32, 64), mode='bilinear')
    up = F.interpolate(logits, (128, 256), mode='bilinear')
    up = F.interpolate(up, (256, 512), mode='bilinear')
    raw = logits.argmax(1)[0]
    pred = nearest_labels(up.argmax(1)[0], scaled_size((128, 256), 0.25))
    corner = up.argmax(1)[0, ::8, ::8]
    agree = (pred == raw).float().mean()
    assert agree > 0.95
    assert (corner == raw).float().mean() < agree - 0.05


def test_registered_and_bad_arguments():
    metric = METRICS.build(dict(type='mmkd.IoUMetric', label_scale=0.25))
    assert isinstance(metric, MMSegIoUMetric) and metric.label_scale == 0.25
    with pytest.raises(ValueError, match=r'label_scale must be .* \(0, 1\]'):
        IoUMetric(label_scale=4)
    with pytest.raises(ValueError, match='output_dir and format_only'):
        IoUMetric(label_scale=0.25, format_only=True, output_dir='x')
    metric.dataset_meta = dict(classes=CLASSES)
    sample = _sample(torch.zeros(4, 4).long(), torch.zeros(4, 4).long(),
                     (4, 4))
    del sample['img_shape']
    with pytest.raises(KeyError, match='img_shape'):
        metric.process({}, [sample])
