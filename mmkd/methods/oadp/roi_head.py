# Copyright (c) mmkd contributors. All rights reserved.
"""OADP's RoI head: mmdet's standard RoI head with an object head and a
block head beside the bbox head, and ViLD's test-time ensemble."""
import copy
from typing import Dict, List, Optional, Sequence

import torch
from mmdet.models.layers import multiclass_nms
from mmdet.models.roi_heads import StandardRoIHead
from mmdet.models.utils import empty_instances
from mmdet.structures.bbox import bbox2roi, get_box_tensor, scale_boxes
from mmengine.structures import InstanceData
from torch import Tensor

from mmkd.registry import MODELS
from .classifiers import _TextClassifier
from .heads import OADPBlockHead, OADPObjectHead


def ensemble_lambdas(novel: Tensor,
                     base_lambda: float = 2 / 3,
                     novel_lambda: float = 1 / 3) -> Tensor:
    """Per-column exponents of the bbox head's probabilities: ``base_lambda``
    on base classes, ``novel_lambda`` on novel classes and background.

    Args:
        novel (Tensor): Bool (C + 1,), True on novel columns (the
            background, last, is False).
        base_lambda (float): Defaults to 2 / 3.
        novel_lambda (float): Defaults to 1 / 3.

    Returns:
        Tensor: (C + 1,) float.
    """
    lambdas = torch.full(novel.shape, base_lambda)
    lambdas[novel] = novel_lambda
    lambdas[-1] = novel_lambda
    return lambdas


def ensemble_scores(bbox_logits: Tensor, object_logits: Tensor,
                    lambdas: Tensor) -> Tensor:
    """ViLD's ensemble: ``p = softmax(bbox)^l * softmax(object)^(1 - l)``
    per class, then the background ``p_bg = 1 - sum(p_fg)``, so that each
    row sums to 1.

    Note:
        A weighted geometric mean with per-class weights can add up to a
        little more than 1 over the classes, which makes ``p_bg`` slightly
        negative; it is kept (mmdet's post-processing drops the background
        column). OADP's ``main`` takes the logarithm of these scores and
        mmdet 2 their softmax, which turns such a row into NaN.

    Args:
        bbox_logits (Tensor): (R, C + 1), background last.
        object_logits (Tensor): (R, C + 1); the object head's background
            column is ``-inf`` (probability 0).
        lambdas (Tensor): (C + 1,), see :func:`ensemble_lambdas`.

    Returns:
        Tensor: Probabilities (R, C + 1).
    """
    if bbox_logits.shape != object_logits.shape or \
            bbox_logits.shape[-1:] != lambdas.shape:
        raise ValueError(f'OADP ensemble: bbox logits '
                         f'{tuple(bbox_logits.shape)}, object logits '
                         f'{tuple(object_logits.shape)} and lambdas '
                         f'{tuple(lambdas.shape)} do not match')
    lambdas = lambdas.to(bbox_logits)
    scores = bbox_logits.softmax(-1)**lambdas * \
        object_logits.softmax(-1)**(1 - lambdas)
    bg = 1 - scores[:, :-1].sum(-1, keepdim=True)
    return torch.cat([scores[:, :-1], bg], dim=-1)


@MODELS.register_module()
class OADPRoIHead(StandardRoIHead):
    """The standard RoI head (bbox head: e.g. ``Shared4Conv1FCBBoxHead``
    with an :class:`~.classifiers.OADPViLDClassifier`) with OADP's object
    head and, optionally, block head on the same RoI extractor.

    Training: the bbox head's losses as mmdet's (:meth:`loss`); the
    detector calls :meth:`loss_objects` and :meth:`loss_blocks` with the
    cached boxes. Test: each proposal's class scores are the ensemble of
    the bbox and object heads (:func:`ensemble_scores`), then mmdet's box
    decoding and per-class NMS (``test_cfg.rcnn``; OADP keeps 300
    detections per image with ``score_thr=0``).

    Args:
        object_head (dict): :class:`~.heads.OADPObjectHead` config;
            ``in_channels``, ``roi_feat_size`` and ``num_classes`` default
            to the bbox head's.
        block_head (dict, optional): :class:`~.heads.OADPBlockHead` config,
            the same defaults.
        base_lambda (float): The ensemble's exponent of the bbox head on
            base classes. Defaults to 2 / 3.
        novel_lambda (float): On novel classes and background. Defaults to
            1 / 3.
        **kwargs: ``StandardRoIHead``'s (``bbox_roi_extractor``,
            ``bbox_head``, ``train_cfg``, ``test_cfg``, ...).
    """

    def __init__(self,
                 *args,
                 object_head: dict,
                 block_head: Optional[dict] = None,
                 base_lambda: float = 2 / 3,
                 novel_lambda: float = 1 / 3,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.with_shared_head:
            raise ValueError('OADPRoIHead does not support a shared_head')
        if not isinstance(self.bbox_head.fc_cls, _TextClassifier):
            raise TypeError(
                'OADPRoIHead: the bbox head needs cls_predictor_cfg of type '
                'mmkd.OADPViLDClassifier, got '
                f'{type(self.bbox_head.fc_cls).__name__}')
        self.object_head = self._build_head(object_head, OADPObjectHead,
                                            kwargs['bbox_head'])
        self.block_head = None if block_head is None else self._build_head(
            block_head, OADPBlockHead, kwargs['bbox_head'])
        classes = self.bbox_head.fc_cls.classes
        for name in ('object_head', 'block_head'):
            head = getattr(self, name)
            if head is not None and head.fc_cls.classes != classes:
                raise ValueError(
                    f'OADPRoIHead: the {name}\'s classes '
                    f'{head.fc_cls.classes} are not the bbox head\'s '
                    f'{classes}')
        self.register_buffer(
            'lambdas',
            ensemble_lambdas(self.bbox_head.fc_cls.novel, base_lambda,
                             novel_lambda),
            persistent=False)

    @staticmethod
    def _build_head(cfg: dict, kind: type, bbox_head: dict):
        cfg = copy.deepcopy(dict(cfg))
        for key in ('in_channels', 'roi_feat_size', 'num_classes'):
            if key in bbox_head:
                cfg.setdefault(key, bbox_head[key])
        head = MODELS.build(cfg)
        if not isinstance(head, kind):
            raise TypeError(f'OADPRoIHead: expected a {kind.__name__}, got '
                            f'{type(head).__name__}')
        return head

    @property
    def with_block(self) -> bool:
        return self.block_head is not None

    def roi_features(self, x: Sequence[Tensor], boxes: List[Tensor]) -> Tensor:
        """RoIAlign features of per-image boxes (``xyxy``, input frame)."""
        extractor = self.bbox_roi_extractor
        return extractor(x[:extractor.num_inputs], bbox2roi(boxes))

    def loss_objects(self, x: Sequence[Tensor], boxes: List[Tensor],
                     targets: Tensor) -> Dict[str, Tensor]:
        """``loss_clip_objects`` of the per-image object boxes against
        their cached embeddings (all images' concatenated)."""
        if sum(len(b) for b in boxes) == 0:
            # no object in the batch: a zero on the graph
            zero = sum(p.sum() for p in self.object_head.parameters()
                       if p.requires_grad) * 0.
            return dict(loss_clip_objects=zero)
        return self.object_head.loss_objects(
            self.roi_features(x, boxes), targets)

    def loss_blocks(self,
                    x: Sequence[Tensor],
                    boxes: List[Tensor],
                    targets: Tensor,
                    labels: Tensor,
                    distill: bool = True) -> Dict[str, Tensor]:
        """The block head's losses (:meth:`OADPBlockHead.loss_blocks`)."""
        return self.block_head.loss_blocks(
            self.roi_features(x, boxes), targets, labels, distill)

    def predict_bbox(self,
                     x,
                     batch_img_metas: List[dict],
                     rpn_results_list: List[InstanceData],
                     rcnn_test_cfg,
                     rescale: bool = False) -> List[InstanceData]:
        """Detections with the ensembled class scores."""
        proposals = [res.bboxes for res in rpn_results_list]
        rois = bbox2roi(proposals)
        if rois.shape[0] == 0 or rcnn_test_cfg is None:
            if rois.shape[0] == 0:
                return empty_instances(
                    batch_img_metas,
                    rois.device,
                    task_type='bbox',
                    box_type=self.bbox_head.predict_box_type,
                    num_classes=self.bbox_head.num_classes,
                    score_per_cls=rcnn_test_cfg is None)
            raise ValueError('OADPRoIHead needs test_cfg.rcnn (no '
                             'test-time augmentation)')
        results = self._bbox_forward(x, rois)
        object_logits, _ = self.object_head(results['bbox_feats'])
        scores = ensemble_scores(results['cls_score'], object_logits,
                                 self.lambdas)
        counts = tuple(len(p) for p in proposals)
        bbox_preds = results['bbox_pred']
        return [
            self._detections(*args, rcnn_test_cfg, rescale) for args in zip(
                rois.split(counts), scores.split(counts),
                bbox_preds.split(counts) if bbox_preds is not None else
                (None, ) * len(counts), batch_img_metas)
        ]

    def _detections(self, rois: Tensor, scores: Tensor,
                    bbox_pred: Optional[Tensor], img_meta: dict, cfg,
                    rescale: bool) -> InstanceData:
        """One image's boxes decoded as mmdet's ``BBoxHead`` does, with the
        given probabilities (not logits) for NMS."""
        head = self.bbox_head
        img_shape = img_meta['img_shape']
        if bbox_pred is None:
            boxes = rois[:, 1:].clone()
            boxes[:, [0, 2]] = boxes[:, [0, 2]].clamp(0, img_shape[1])
            boxes[:, [1, 3]] = boxes[:, [1, 3]].clamp(0, img_shape[0])
        else:
            repeat = 1 if head.reg_class_agnostic else head.num_classes
            boxes = head.bbox_coder.decode(
                rois[:, 1:].repeat_interleave(repeat, dim=0),
                bbox_pred.view(-1, head.bbox_coder.encode_size),
                max_shape=img_shape)
        if rescale and boxes.size(0) > 0:
            boxes = scale_boxes(boxes,
                                [1 / s for s in img_meta['scale_factor']])
        boxes = get_box_tensor(boxes)
        box_dim = boxes.size(-1)
        boxes = boxes.view(len(rois), -1)
        det_boxes, labels = multiclass_nms(
            boxes,
            scores,
            cfg.score_thr,
            cfg.nms,
            cfg.max_per_img,
            box_dim=box_dim)
        return InstanceData(
            bboxes=det_boxes[:, :-1], scores=det_boxes[:, -1], labels=labels)
