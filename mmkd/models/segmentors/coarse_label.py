# Copyright (c) mmkd contributors. All rights reserved.
"""An mmseg EncoderDecoder whose heads compute their losses on the logits'
grid, against nearest-downsampled labels (TransKD's protocol)."""
from typing import List, Sequence

from mmengine.structures import PixelData
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.segmentors import EncoderDecoder
from mmseg.structures import SegDataSample
from mmseg.utils import add_prefix
from torch import Tensor, nn

from mmkd.evaluation.metrics.scaled_iou import nearest_labels
from mmkd.registry import MODELS

#: label maps of a data sample that are resampled with it
LABEL_FIELDS = ('gt_sem_seg', 'gt_edge_map')


def labels_at(data_samples: Sequence[SegDataSample],
              size: Sequence[int]) -> List[SegDataSample]:
    """New data samples (same meta) whose label maps are nearest-resampled
    to ``size`` by :func:`~mmkd.evaluation.nearest_labels`; the originals
    are left as they are.

    Args:
        data_samples (Sequence[SegDataSample]): The batch's samples.
        size (Sequence[int]): ``(h, w)`` of the logits.

    Returns:
        list[SegDataSample]
    """
    out = []
    for sample in data_samples:
        new = SegDataSample(metainfo=sample.metainfo)
        for key in LABEL_FIELDS:
            if key in sample:
                new.set_data({
                    key:
                    PixelData(data=nearest_labels(sample.get(key).data,
                                                  size))
                })
        out.append(new)
    return out


@MODELS.register_module()
class CoarseLabelEncoderDecoder(EncoderDecoder):
    """mmseg's :class:`~mmseg.models.EncoderDecoder`, with the decode and
    auxiliary heads' losses computed at the logits' resolution.

    mmseg upsamples each head's logits (bilinear) to the label map and
    computes the loss there. Here the label map is nearest-downsampled to
    the logits' grid instead (each logit cell takes the label under its
    centre, :func:`~mmkd.evaluation.nearest_labels`) and the logits are
    used as they are, as TransKD's official training does for SegFormer
    (labels resized to a quarter of the 512x1024 input, cross-entropy on
    the stride-4 logits). Labels are resampled after the data preprocessor
    has padded them with the image, so padding stays aligned. Inference and
    everything else are mmseg's.

    Args:
        **kwargs: Arguments of :class:`~mmseg.models.EncoderDecoder`. Every
            head must use :class:`BaseDecodeHead`'s ``loss`` (forward, then
            ``loss_by_feat``); heads with their own ``loss`` (e.g. cascade
            or point heads) are refused at build time.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        for name, head in self._named_heads():
            if type(head).loss is not BaseDecodeHead.loss:
                raise TypeError(
                    f'CoarseLabelEncoderDecoder: {name} '
                    f'({type(head).__name__}) overrides '
                    'BaseDecodeHead.loss, so its loss cannot be moved to '
                    'the logits\' grid; use mmseg\'s EncoderDecoder')

    def _named_heads(self):
        yield 'decode_head', self.decode_head
        aux = getattr(self, 'auxiliary_head', None)
        if isinstance(aux, nn.ModuleList):
            for i, head in enumerate(aux):
                yield f'auxiliary_head.{i}', head
        elif aux is not None:
            yield 'auxiliary_head', aux

    @staticmethod
    def head_loss(head: BaseDecodeHead, inputs: List[Tensor],
                  data_samples: List[SegDataSample]) -> dict:
        """``head``'s losses against labels on its logits' grid."""
        seg_logits = head.forward(inputs)
        samples = labels_at(data_samples, seg_logits.shape[-2:])
        return head.loss_by_feat(seg_logits, samples)

    def _decode_head_forward_train(self, inputs: List[Tensor],
                                   data_samples: List[SegDataSample]
                                   ) -> dict:
        return add_prefix(
            self.head_loss(self.decode_head, inputs, data_samples),
            'decode')

    def _auxiliary_head_forward_train(self, inputs: List[Tensor],
                                      data_samples: List[SegDataSample]
                                      ) -> dict:
        losses = dict()
        if isinstance(self.auxiliary_head, nn.ModuleList):
            for idx, head in enumerate(self.auxiliary_head):
                losses.update(
                    add_prefix(self.head_loss(head, inputs, data_samples),
                               f'aux_{idx}'))
        else:
            losses.update(
                add_prefix(
                    self.head_loss(self.auxiliary_head, inputs,
                                   data_samples), 'aux'))
        return losses
