# Copyright (c) mmkd contributors. All rights reserved.
"""OADP's distillation pyramid heads: object (RoIs of the cached object
boxes), block (RoIs of the cached block boxes) and global (the image).

Each ends in an :class:`~.classifiers.OADPClassifier` whose normalised
embedding is distilled to OAKE's cached CLIP embedding of the same box or
image; the block and global heads also learn the classes present
(:class:`~.losses.AsymmetricLoss`). Loss names (``loss_<name>``) are the
keys of ``OADPDetector.distill_loss_scales``:

- ``clip_objects``: L1 (mean) x 256 of the object embeddings;
- ``clip_blocks``: L1 (mean) x 128 of the block embeddings;
- ``clip_block_relations``: MSE (mean) x 8 of the Gram matrices of all
  the batch's block embeddings, student's against CLIP's;
- ``block_mll``: the asymmetric loss x 16 of the block logits against the
  classes of the ground-truth boxes overlapping each block;
- ``clip_global``: MSE (sum) x 0.5 of the global embeddings;
- ``global_mll``: the asymmetric loss x 4 of the global logits against the
  image's ground-truth classes.
"""
from typing import Dict, Optional, Sequence, Tuple

import torch
from mmdet.models.roi_heads.bbox_heads import (Shared2FCBBoxHead,
                                               Shared4Conv1FCBBoxHead)
from mmengine.model import BaseModule
from torch import Tensor

from mmkd.registry import MODELS
from .classifiers import _TextClassifier


def _check_classifier(head) -> None:
    if not isinstance(head.fc_cls, _TextClassifier):
        raise TypeError(
            f'{type(head).__name__} needs cls_predictor_cfg of type '
            'mmkd.OADPClassifier (or mmkd.OADPViLDClassifier), got '
            f'{type(head.fc_cls).__name__}')


def _check_targets(embeddings: Tensor, targets: Tensor, what: str) -> None:
    if embeddings.shape != targets.shape:
        raise ValueError(
            f'{what}: the student embeddings {tuple(embeddings.shape)} and '
            f'the cached CLIP embeddings {tuple(targets.shape)} differ; the '
            'text embeddings and the OAKE caches must come from the same '
            'CLIP')


class _EmbeddingHeadMixin:
    """A ConvFC box head without regression whose classifier is an OADP
    text classifier, giving embeddings and logits."""

    def cls_features(self, x: Tensor) -> Tensor:
        """The features the classifier sees (the shared and classification
        branches of ``ConvFCBBoxHead``)."""
        for conv in self.shared_convs:
            x = conv(x)
        if self.num_shared_fcs > 0:
            if self.with_avg_pool:
                x = self.avg_pool(x)
            x = x.flatten(1)
            for fc in self.shared_fcs:
                x = self.relu(fc(x))
        for conv in self.cls_convs:
            x = conv(x)
        if x.dim() > 2:
            if self.with_avg_pool:
                x = self.avg_pool(x)
            x = x.flatten(1)
        for fc in self.cls_fcs:
            x = self.relu(fc(x))
        return x

    def embed(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """Normalised embeddings (N, D) and logits (N, C) of RoI features;
        the background column, unused, is dropped."""
        embeddings = self.fc_cls.embed(self.cls_features(x))
        logits = self.fc_cls.classify(embeddings)
        return embeddings, logits[:, :self.num_classes]

    def forward(self, x: Tensor) -> Tuple[Tensor, None]:
        """Logits (N, C + 1) with the background column ``-inf``, and no
        box regression."""
        _, logits = self.embed(x)
        bg = logits.new_full((len(logits), 1), float('-inf'))
        return torch.cat([logits, bg], dim=1), None


@MODELS.register_module()
class OADPObjectHead(_EmbeddingHeadMixin, Shared4Conv1FCBBoxHead):
    """OADP's object head: 4 convs and 1 fc on the RoIAlign features of
    OAKE's object boxes, an :class:`~.classifiers.OADPClassifier`; its
    embeddings are distilled to the cached object embeddings.

    At test its softmax over the classes enters the ensemble
    (:func:`~.ensemble.ensemble_scores`); its background embedding is never
    used (frozen, column ``-inf``).

    Args:
        loss_distill (dict): Defaults to ``dict(type='mmkd.L1FeatureLoss',
            loss_weight=256.0)`` (mean over all elements).
        **kwargs: ``Shared4Conv1FCBBoxHead``'s (``with_reg`` is False).
    """

    def __init__(self,
                 *args,
                 loss_distill: Optional[dict] = None,
                 **kwargs) -> None:
        kwargs['with_reg'] = False
        super().__init__(*args, **kwargs)
        _check_classifier(self)
        if self.fc_cls.bg_embedding is not None:
            self.fc_cls.bg_embedding.requires_grad_(False)
        self.loss_distill = MODELS.build(
            loss_distill or dict(type='mmkd.L1FeatureLoss', loss_weight=256.0))

    def loss_objects(self, x: Tensor, targets: Tensor) -> Dict[str, Tensor]:
        """``loss_clip_objects`` of RoI features (M, C, h, w) against the
        cached embeddings (M, D)."""
        embeddings, _ = self.embed(x)
        _check_targets(embeddings, targets, 'OADP object head')
        return dict(
            loss_clip_objects=self.loss_distill(embeddings, targets.float()))


@MODELS.register_module()
class OADPBlockHead(_EmbeddingHeadMixin, Shared2FCBBoxHead):
    """OADP's block head: 2 fcs on the RoIAlign features of OAKE's block
    boxes, an :class:`~.classifiers.OADPClassifier`.

    Args:
        loss_distill (dict): Defaults to ``dict(type='mmkd.L1FeatureLoss',
            loss_weight=128.0)``.
        loss_relation (dict): The loss of the Gram matrices of the batch's
            normalised block embeddings (K, D): the engine's
            ``GramMatrixLoss`` in spatial mode on them as a (1, D, K, 1) map
            gives ``mean((S S^T - T T^T)^2)``. Defaults to
            ``dict(type='mmkd.GramMatrixLoss', mode='spatial',
            loss_weight=8.0)``.
        loss_cls (dict): The multi-label loss. Defaults to
            ``dict(type='mmkd.AsymmetricLoss', loss_weight=16.0)``.
        **kwargs: ``Shared2FCBBoxHead``'s (``with_reg`` is False).
    """

    def __init__(self,
                 *args,
                 loss_distill: Optional[dict] = None,
                 loss_relation: Optional[dict] = None,
                 loss_cls: Optional[dict] = None,
                 **kwargs) -> None:
        kwargs['with_reg'] = False
        super().__init__(
            *args,
            loss_cls=loss_cls
            or dict(type='mmkd.AsymmetricLoss', loss_weight=16.0),
            **kwargs)
        _check_classifier(self)
        if self.fc_cls.bg_embedding is not None:
            self.fc_cls.bg_embedding.requires_grad_(False)
        self.loss_distill = MODELS.build(
            loss_distill or dict(type='mmkd.L1FeatureLoss', loss_weight=128.0))
        self.loss_relation = MODELS.build(
            loss_relation or dict(
                type='mmkd.GramMatrixLoss', mode='spatial', loss_weight=8.0))

    def loss_blocks(self,
                    x: Tensor,
                    targets: Tensor,
                    labels: Tensor,
                    distill: bool = True) -> Dict[str, Tensor]:
        """Losses of RoI features (K, C, h, w) of all the batch's blocks.

        Args:
            x (Tensor): RoI features.
            targets (Tensor): The cached embeddings (K, D).
            labels (Tensor): Bool (K, num_classes), the classes of the
                ground-truth boxes overlapping each block.
            distill (bool): Whether to add the distill terms.

        Returns:
            dict: ``loss_block_mll``, and with ``distill`` ``loss_clip_blocks``
            and ``loss_clip_block_relations``.
        """
        embeddings, logits = self.embed(x)
        losses = dict(loss_block_mll=self.loss_cls(logits, labels))
        if distill:
            _check_targets(embeddings, targets, 'OADP block head')
            targets = targets.float()
            losses['loss_clip_blocks'] = self.loss_distill(embeddings, targets)
            losses['loss_clip_block_relations'] = self.loss_relation(
                embeddings.T[None, :, :, None], targets.T[None, :, :, None])
        return losses


@MODELS.register_module()
class OADPGlobalHead(BaseModule):
    """OADP's global head: the last FPN level mean-pooled, an
    :class:`~.classifiers.OADPClassifier` (no background).

    Args:
        classifier (dict): The classifier config (``in_features`` is
            ``in_channels``, ``out_features`` the number of classes).
        in_channels (int): The FPN's width. Defaults to 256.
        loss_distill (dict): Defaults to ``dict(type='mmkd.MSEFeatureLoss',
            reduction='sum', loss_weight=0.5)``.
        loss_cls (dict): Defaults to ``dict(type='mmkd.AsymmetricLoss',
            loss_weight=4.0)``.
        init_cfg (dict, optional): Defaults to a normal init (std 0.01) of
            the classifier's linear layer, as mmdet's box heads.
    """

    def __init__(self,
                 classifier: dict,
                 in_channels: int = 256,
                 loss_distill: Optional[dict] = None,
                 loss_cls: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            init_cfg=init_cfg
            or dict(type='Normal', std=0.01, override=dict(name='classifier')))
        classifier = dict(classifier)
        classifier.setdefault('in_features', in_channels)
        classes = classifier.get('classes')
        if classes is not None:
            classifier.setdefault('out_features', len(classes))
        self.classifier = MODELS.build(classifier)
        if not isinstance(self.classifier, _TextClassifier):
            raise TypeError('OADPGlobalHead needs a classifier of type '
                            'mmkd.OADPClassifier, got '
                            f'{type(self.classifier).__name__}')
        self.loss_distill = MODELS.build(
            loss_distill or dict(
                type='mmkd.MSEFeatureLoss', reduction='sum', loss_weight=0.5))
        self.loss_cls = MODELS.build(
            loss_cls or dict(type='mmkd.AsymmetricLoss', loss_weight=4.0))

    @property
    def num_classes(self) -> int:
        return self.classifier.num_classes

    def forward(self, feats: Sequence[Tensor]) -> Tuple[Tensor, Tensor]:
        """Normalised embeddings (B, D) and logits (B, C) of the images."""
        pooled = feats[-1].mean(dim=(2, 3))
        embeddings = self.classifier.embed(pooled)
        logits = self.classifier.classify(embeddings)
        return embeddings, logits[:, :self.num_classes]

    def loss(self,
             feats: Sequence[Tensor],
             targets: Optional[Tensor],
             labels: Tensor,
             distill: bool = True) -> Dict[str, Tensor]:
        """``loss_global_mll`` and, with ``distill``, ``loss_clip_global``.

        Args:
            feats (Sequence[Tensor]): The FPN levels.
            targets (Tensor, optional): Cached embeddings (B, D).
            labels (Tensor): Bool (B, num_classes), the classes of each
                image's ground truth.
            distill (bool): Whether to add the distill term.
        """
        embeddings, logits = self(feats)
        losses = dict(loss_global_mll=self.loss_cls(logits, labels))
        if distill:
            _check_targets(embeddings, targets, 'OADP global head')
            losses['loss_clip_global'] = self.loss_distill(
                embeddings, targets.float())
        return losses


def overlap_labels(boxes: Tensor, gt_boxes: Tensor, gt_labels: Tensor,
                   num_classes: int) -> Tensor:
    """The classes of the ground-truth boxes overlapping each box (an
    intersection of positive area), as OADP's block targets.

    Args:
        boxes (Tensor): (K, 4) ``xyxy``.
        gt_boxes (Tensor): (G, 4) ``xyxy``.
        gt_labels (Tensor): (G,) class indices.
        num_classes (int): C.

    Returns:
        Tensor: Bool (K, C).
    """
    labels = boxes.new_zeros((len(boxes), num_classes), dtype=torch.bool)
    if len(gt_boxes) == 0 or len(boxes) == 0:
        return labels
    lt = torch.maximum(boxes[:, None, :2], gt_boxes[None, :, :2])
    rb = torch.minimum(boxes[:, None, 2:], gt_boxes[None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    block, gt = torch.nonzero(wh[..., 0] * wh[..., 1] > 0, as_tuple=True)
    labels[block, gt_labels[gt]] = True
    return labels
