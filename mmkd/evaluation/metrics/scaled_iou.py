# Copyright (c) mmkd contributors. All rights reserved.
"""mmseg's IoU metric, optionally scored on a coarser grid than the
annotation's (e.g. TransKD's quarter-resolution protocol)."""
from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from mmseg.evaluation.metrics import IoUMetric as MMSegIoUMetric
from torch import Tensor

from mmkd.registry import METRICS


def scaled_size(shape: Sequence[int], scale: float) -> Tuple[int, int]:
    """``(H, W)`` times ``scale``, halves rounded up (``int(x + 0.5)``, as
    TransKD's code sizes its labels)."""
    return tuple(int(s * scale + 0.5) for s in shape[-2:])


def nearest_labels(label: Tensor, size: Sequence[int]) -> Tensor:
    """Nearest-neighbour resampling of a label map to ``size``.

    Each output pixel takes the input pixel under its centre
    (``nearest-exact``: source index ``floor((i + 0.5) * in / out)``), the
    rule of PIL's ``Image.NEAREST`` (torch's plain ``nearest`` takes
    ``floor(i * in / out)``, the top-left pixel of each cell, and OpenCV's
    ``INTER_NEAREST`` does too).

    Args:
        label (Tensor): Integer map of shape (..., H, W), values < 2**24
            (they pass through float32 exactly).
        size (Sequence[int]): Output ``(h, w)``.

    Returns:
        Tensor: Map of shape (..., h, w), of ``label``'s dtype.
    """
    if tuple(label.shape[-2:]) == tuple(size):
        return label
    lead = label.shape[:-2]
    flat = label.reshape(-1, 1, *label.shape[-2:]).float()
    out = F.interpolate(flat, size=tuple(size), mode='nearest-exact')
    return out.reshape(*lead, *size).to(label.dtype)


@METRICS.register_module()
class IoUMetric(MMSegIoUMetric):
    """mmseg's :class:`~mmseg.evaluation.IoUMetric`, optionally on a grid
    ``label_scale`` times the network input's.

    With ``label_scale=1`` (default) it is mmseg's metric unchanged. Another
    scale scores both the prediction and the ground truth, nearest-resampled
    (:func:`nearest_labels`), on a grid of ``label_scale`` times the
    sample's ``img_shape`` (the resized input before padding), rounded as
    :func:`scaled_size`. With ``label_scale=0.25`` this is TransKD's
    protocol (official ``eval/eval_*_iou.py``): SegFormer's logits are at
    stride 4, and the official code scores their argmax against labels
    PIL-nearest-resized to that grid, e.g. 128x256 for a 1024x2048
    Cityscapes label whose image is resized to 512x1024 (1/8 of the
    annotation), 128x228 for a 1080x1920 ACDC one (input 512x910).

    How it matches: the labels are sampled at the same pixels as PIL's
    nearest resize (the centre of each cell). The prediction here is
    mmseg's, the argmax of the logits bilinearly upsampled to the
    annotation's size, sampled at those same cell centres, where the
    upsampled logits are read a fraction of a logit cell away from the raw
    stride-4 ones (1/16 for Cityscapes), so the labels differ from the raw
    argmax only where two classes' scores nearly tie (on smooth random
    19-class logits, 3.5% of the cells; 20% with the cells' top-left
    pixels, torch's plain nearest: ``test_upsampled_logits_sampled_at_\
    centres_match_the_raw_argmax`` in tests/test_evaluation/
    test_scaled_iou.py, seed 0). Ignored pixels
    (``ignore_index``) count in no class, as the official ``iouEval`` does
    not count them as false positives. mIoU averages the classes present
    (mmseg's NaN-mean); the official code averages all 19 Cityscapes
    classes, which is the same on the val sets (every class occurs) but
    not on subsets missing a class.

    Not comparable with mmseg's full-resolution mIoU: thin classes (poles,
    signs, riders) lose most of their boundary pixels on a grid 8 times
    coarser than Cityscapes' annotation, so the two scores differ by
    several points for one model. Report it only next to other
    quarter-resolution scores (TransKD's tables).

    Args:
        label_scale (float): Scale of the scoring grid relative to the
            network input, in (0, 1]. Defaults to 1 (mmseg's metric).
        **kwargs: Arguments of mmseg's IoUMetric. ``output_dir`` and
            ``format_only`` need ``label_scale=1`` (they save full-size
            predictions, not the scored grid).
    """

    def __init__(self, label_scale: float = 1.0, **kwargs) -> None:
        super().__init__(**kwargs)
        if not isinstance(label_scale, (int, float)) or isinstance(
                label_scale, bool) or not 0 < label_scale <= 1:
            raise ValueError('IoUMetric: label_scale must be a number in '
                             f'(0, 1], got {label_scale!r}')
        if label_scale != 1 and (self.output_dir or self.format_only):
            raise ValueError(
                'IoUMetric: output_dir and format_only save full-size '
                f'predictions; they need label_scale=1, got {label_scale} '
                '(use a second IoUMetric with label_scale=1 to save them)')
        self.label_scale = float(label_scale)

    def rescale(self, data_sample: dict) -> dict:
        """A shallow copy of ``data_sample`` whose prediction and ground
        truth are on the ``label_scale`` grid."""
        if 'img_shape' not in data_sample:
            raise KeyError(
                'IoUMetric with label_scale != 1 needs the data sample\'s '
                '"img_shape" (the resized input size, set by mmseg\'s Resize '
                'and packed by PackSegInputs); this sample has keys '
                f'{sorted(data_sample)}')
        size = scaled_size(data_sample['img_shape'], self.label_scale)
        out = dict(data_sample)
        for key in ('pred_sem_seg', 'gt_sem_seg'):
            if key in data_sample:
                field = dict(data_sample[key])
                field['data'] = nearest_labels(field['data'], size)
                out[key] = field
        return out

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """mmseg's areas, on the ``label_scale`` grid."""
        if self.label_scale != 1:
            data_samples = [self.rescale(s) for s in data_samples]
        super().process(data_batch, data_samples)
