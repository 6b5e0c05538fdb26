# Copyright (c) mmkd contributors. All rights reserved.
"""OADP's student: a two-stage detector distilled from OAKE's cached CLIP
embeddings of objects, blocks and the whole image."""
import copy
from typing import Dict, List, Optional, Tuple

import torch
from mmdet.models.detectors import TwoStageDetector
from torch import Tensor

from mmkd.registry import MODELS
from .heads import overlap_labels
from .roi_head import OADPRoIHead

#: the loss names of OADPDetector (``loss_<name>``), by head
LOSSES = dict(
    objects=('clip_objects', ),
    blocks=('clip_blocks', 'clip_block_relations', 'block_mll'),
    global_=('clip_global', 'global_mll'))
#: the terms that need the teacher (switched off by distill_enabled)
DISTILL_LOSSES = ('clip_objects', 'clip_blocks', 'clip_block_relations',
                  'clip_global')


@MODELS.register_module()
class OADPDetector(TwoStageDetector):
    """OADP's DP student (Wang et al., CVPR 2023): a two-stage detector
    (Faster R-CNN) with an :class:`~.roi_head.OADPRoIHead` (bbox head with
    ViLD's text classifier, object and block heads) and an
    :class:`~.heads.OADPGlobalHead`.

    Each training image carries OAKE's records (``mmkd.LoadOAKERecords``
    with ``prefix=record_prefix``: one ``mmkd.LoadCachedRecords`` with
    ``prefix='<record_prefix><view>_'`` for each of the views ``global``,
    ``blocks`` and ``objects``; then ``mmkd.PackCachedRecords``): the
    data sample's ``<record_prefix>global_records`` (``embeddings``,
    (1, D)), ``<record_prefix>blocks_records`` and
    ``<record_prefix>objects_records`` (``boxes``, moved with the sample's
    resize and flip, and ``embeddings``). The embeddings are those of the
    unflipped image, as OADP's.

    Losses besides the detector's (names: :mod:`.heads`): ``clip_objects``,
    ``clip_blocks``, ``clip_block_relations``, ``block_mll``,
    ``clip_global`` and ``global_mll``, each multiplied by
    ``distill_loss_scales[<name>]``
    (:class:`~mmkd.models.distillers.protocol.DistillControls`; OADP's
    warm-ups ``gain * min(step / end, 1)`` are ``mmkd.DistillLossWeightHook``
    linear schedules, see ``configs/oadp/``). ``distill_enabled = False``
    (``mmkd.StopDistillHook``) drops the four ``clip_*`` terms
    (:data:`DISTILL_LOSSES`); the multi-label terms ``block_mll`` and
    ``global_mll`` learn from the labels and stay.

    Args:
        global_head (dict, optional): The global head; None: none.
        record_prefix (str): Prefix of the record groups. Defaults to
            ``'oake_'``.
        **kwargs: ``TwoStageDetector``'s (``backbone``, ``neck``,
            ``rpn_head``, ``roi_head`` of type ``mmkd.OADPRoIHead``, ...).
    """

    def __init__(self,
                 *args,
                 global_head: Optional[dict] = None,
                 record_prefix: str = 'oake_',
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not isinstance(self.roi_head, OADPRoIHead):
            raise TypeError('OADPDetector needs roi_head of type '
                            'mmkd.OADPRoIHead, got '
                            f'{type(self.roi_head).__name__}')
        self.global_head = None
        if global_head is not None:
            global_head = copy.deepcopy(dict(global_head))
            global_head.setdefault(
                'in_channels', self.roi_head.bbox_roi_extractor.out_channels)
            self.global_head = MODELS.build(global_head)
            classes = self.roi_head.bbox_head.fc_cls.classes
            if self.global_head.classifier.classes != classes:
                raise ValueError(
                    'OADPDetector: the global head\'s classes '
                    f'{self.global_head.classifier.classes} are not the bbox '
                    f'head\'s {classes}')
        self.record_prefix = record_prefix
        names = list(LOSSES['objects'])
        if self.roi_head.with_block:
            names += LOSSES['blocks']
        if self.global_head is not None:
            names += LOSSES['global_']
        #: DistillControls: multipliers of the OADP losses, by name
        self.distill_loss_scales: Dict[str, float] = dict.fromkeys(names, 1.0)
        #: DistillControls: False drops the clip_* terms
        self.distill_enabled = True

    @property
    def num_classes(self) -> int:
        return self.roi_head.bbox_head.num_classes

    def records(self, data_samples: list, view: str) -> list:
        """Each sample's records of one OAKE view, checked."""
        name = f'{self.record_prefix}{view}_records'
        found = []
        for sample in data_samples:
            records = sample.get(name)
            if records is None:
                raise KeyError(
                    f'OADPDetector: a training sample '
                    f'({sample.metainfo.get("img_path", "?")}) has no '
                    f'{name!r}; load the OAKE caches with '
                    f'mmkd.LoadOAKERecords(prefix={self.record_prefix!r}) '
                    f'(the {view} cache alone: mmkd.LoadCachedRecords('
                    f'prefix=\'{self.record_prefix}{view}_\')) and pack '
                    'with mmkd.PackCachedRecords (data sample fields: '
                    f'{sorted(sample.keys())})')
            found.append(records)
        return found

    def _rpn_and_roi_losses(self, x: Tuple[Tensor],
                            data_samples: list) -> dict:
        """The detector's own losses, as ``TwoStageDetector.loss``."""
        losses = dict()
        proposal_cfg = self.train_cfg.get('rpn_proposal', self.test_cfg.rpn)
        rpn_samples = copy.deepcopy(data_samples)
        for sample in rpn_samples:
            # class-agnostic RPN
            sample.gt_instances.labels = torch.zeros_like(
                sample.gt_instances.labels)
        rpn_losses, proposals = self.rpn_head.loss_and_predict(
            x, rpn_samples, proposal_cfg=proposal_cfg)
        for key in list(rpn_losses):
            if 'loss' in key and 'rpn' not in key:
                rpn_losses[f'rpn_{key}'] = rpn_losses.pop(key)
        losses.update(rpn_losses)
        losses.update(self.roi_head.loss(x, proposals, data_samples))
        return losses

    def _labels(self, data_samples: list) -> List[Tuple[Tensor, Tensor]]:
        labels = []
        for sample in data_samples:
            gt = sample.gt_instances
            boxes = gt.bboxes
            boxes = boxes.tensor if hasattr(boxes, 'tensor') else boxes
            labels.append((boxes, gt.labels))
        return labels

    def loss(self, batch_inputs: Tensor, batch_data_samples: list) -> dict:
        if not self.with_rpn:
            raise ValueError('OADPDetector needs an rpn_head')
        x = self.extract_feat(batch_inputs)
        losses = self._rpn_and_roi_losses(x, batch_data_samples)
        distill = self.distill_enabled
        gts = self._labels(batch_data_samples)
        if distill:
            objects = self.records(batch_data_samples, 'objects')
            losses.update(
                self.roi_head.loss_objects(
                    x, [r.boxes for r in objects],
                    torch.cat([r.embeddings for r in objects])))
        if self.roi_head.with_block:
            blocks = self.records(batch_data_samples, 'blocks')
            labels = torch.cat([
                overlap_labels(r.boxes, boxes, gt_labels, self.num_classes)
                for r, (boxes, gt_labels) in zip(blocks, gts)
            ])
            losses.update(
                self.roi_head.loss_blocks(
                    x, [r.boxes for r in blocks],
                    torch.cat([r.embeddings for r in blocks]), labels,
                    distill))
        if self.global_head is not None:
            labels = x[-1].new_zeros((len(gts), self.num_classes),
                                     dtype=torch.bool)
            for i, (_, gt_labels) in enumerate(gts):
                labels[i, gt_labels] = True
            targets = None
            if distill:
                records = self.records(batch_data_samples, 'global')
                targets = torch.cat([r.embeddings for r in records])
                if len(targets) != len(gts):
                    raise ValueError(
                        'OADPDetector: expected one global embedding per '
                        f'image, got {len(targets)} for {len(gts)} images')
            losses.update(self.global_head.loss(x, targets, labels, distill))
        for name, scale in self.distill_loss_scales.items():
            if f'loss_{name}' in losses:
                losses[f'loss_{name}'] = scale * losses[f'loss_{name}']
        return losses
