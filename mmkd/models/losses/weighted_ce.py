# Copyright (c) mmkd contributors. All rights reserved.
from typing import Optional, Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from mmkd.registry import MODELS
from .base_distill_loss import check_loss_weight


@MODELS.register_module()
class ClassWeightedCrossEntropyLoss(nn.Module):
    """Cross-entropy with per-class weights, averaged over the weights of
    the pixels that count: ``sum_i w[y_i] * nll_i / sum_i w[y_i]`` over the
    pixels whose label is not ``ignore_index`` (PyTorch's weighted mean,
    ``NLLLoss(weight)``, as ERFNet's and TransKD's training scripts use).

    mmseg's ``CrossEntropyLoss(class_weight=..., avg_non_ignore=True)`` is
    meant to compute this, but mmseg 1.2.2 indexes the class weights with
    the raw label map, so any ignored pixel (255) raises an IndexError
    (open-mmlab/mmsegmentation#3734). A batch whose pixels are all ignored
    gives 0.

    It plugs into mmseg's decode heads as ``loss_decode``.

    Args:
        class_weight (Sequence[float]): One weight per class.
        loss_weight (float): Factor on the loss. Defaults to 1.0.
        loss_name (str): Its key in the losses (mmseg heads need the
            ``loss_`` prefix). Defaults to ``'loss_ce'``.
    """

    def __init__(self,
                 class_weight: Sequence[float],
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_ce') -> None:
        super().__init__()
        if class_weight is None or len(class_weight) == 0:
            raise ValueError('ClassWeightedCrossEntropyLoss needs a '
                             'class_weight list, one value per class')
        check_loss_weight(loss_weight, type(self).__name__)
        self.class_weight = [float(w) for w in class_weight]
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    def forward(self,
                cls_score: Tensor,
                label: Tensor,
                weight: Optional[Tensor] = None,
                ignore_index: int = 255,
                **kwargs) -> Tensor:
        """Args:
            cls_score (Tensor): Logits (N, C, H, W).
            label (Tensor): Labels (N, H, W).
            weight (Tensor, optional): Per-pixel weights; not supported
                (mmseg's heads pass one only with a pixel sampler).
            ignore_index (int): Label of pixels that do not count.
        """
        if weight is not None:
            raise ValueError('ClassWeightedCrossEntropyLoss does not take '
                             'per-pixel weights (a pixel sampler); remove '
                             'the head\'s sampler or use mmseg\'s '
                             'CrossEntropyLoss')
        if cls_score.shape[1] != len(self.class_weight):
            raise ValueError(
                f'ClassWeightedCrossEntropyLoss: {len(self.class_weight)} '
                f'class weights for logits of shape {tuple(cls_score.shape)}'
                f' ({cls_score.shape[1]} classes)')
        class_weight = cls_score.new_tensor(self.class_weight)
        total = F.cross_entropy(
            cls_score,
            label,
            weight=class_weight,
            ignore_index=ignore_index,
            reduction='sum')
        counted = label[label != ignore_index]
        norm = class_weight[counted].sum()
        return self.loss_weight * total / norm.clamp_min(1e-12)

    @property
    def loss_name(self) -> str:
        """The loss's key in the losses dict."""
        return self._loss_name
