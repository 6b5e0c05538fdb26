# Copyright (c) mmkd contributors. All rights reserved.
"""TransKD's losses: the hierarchical context loss (HCL) on fused stage
maps and the stage-weighted MSE of patch embeddings."""
from typing import Sequence, Union

import torch.nn.functional as F
from torch import Tensor

from mmkd.models.losses import BaseDistillLoss
from mmkd.registry import MODELS

LEVEL_CHECKS = ('height', 'both')


def hierarchical_context_loss(pred: Tensor,
                              target: Tensor,
                              levels: Sequence[int] = (4, 2, 1),
                              level_check: str = 'height') -> Tensor:
    r"""HCL of one stage (Chen et al., ReviewKD, as TransKD uses it).

    .. math::
        \frac{\mathrm{MSE}(f_s, f_t) + \sum_{l} c_l\,
        \mathrm{MSE}(P_l f_s, P_l f_t)}{1 + \sum_l c_l}

    where :math:`P_l` is adaptive average pooling to ``l x l`` and
    :math:`c_l` is 1/2, 1/4, 1/8, ... over the levels used, a level being
    used when ``l < H`` (``level_check='height'``, the reference's test) or
    ``l < min(H, W)`` (``'both'``).

    Args:
        pred (Tensor): Student map ``(N, C, H, W)``.
        target (Tensor): Teacher map of the same shape; detached here.
        levels (Sequence[int]): Pooled sizes. Defaults to (4, 2, 1).
        level_check (str): ``'height'`` or ``'both'``. Defaults to
            ``'height'``.

    Returns:
        Tensor: A scalar.
    """
    target = target.detach()
    height, width = pred.shape[-2:]
    limit = height if level_check == 'height' else min(height, width)
    loss = F.mse_loss(pred, target)
    coef, total = 1.0, 1.0
    for level in levels:
        if level >= limit:
            continue
        coef /= 2.0
        loss = loss + coef * F.mse_loss(
            F.adaptive_avg_pool2d(pred, level),
            F.adaptive_avg_pool2d(target, level))
        total += coef
    return loss / total


def _as_list(x: Union[Tensor, Sequence[Tensor]]) -> list:
    return [x] if isinstance(x, Tensor) else list(x)


@MODELS.register_module()
class HierarchicalContextLoss(BaseDistillLoss):
    """TransKD's feature loss: the hierarchical context loss (HCL) of each
    stage, summed over the stages (official ``hcl`` in ``train/CSF.py``).

    Per stage, the MSE of the maps plus the MSEs of their ``l x l`` average
    pools (``levels``), weighted 1/2, 1/4, 1/8 over the levels used and
    normalised by ``1 + sum`` of the weights; see
    :func:`hierarchical_context_loss`. A pooled size not below the map's
    height is skipped.

    It takes the stages whole (``takes_sequences``): the student's maps
    after :class:`CrossStageFusion` and the teacher's stage maps.

    Args:
        levels (Sequence[int]): Pooled sizes, the reference's (4, 2, 1).
        level_check (str): ``'height'`` skips a level ``l`` when
            ``l >= H``, as the reference (on a map wider than it is high,
            a level may then pool to more columns than the map has);
            ``'both'`` when ``l >= min(H, W)``. Defaults to ``'height'``.
        loss_weight (float): Factor of the loss. Defaults to 1.0.
    """

    takes_sequences = True
    requires_same_shape = True

    def __init__(self,
                 levels: Sequence[int] = (4, 2, 1),
                 level_check: str = 'height',
                 loss_weight: float = 1.0) -> None:
        super().__init__(loss_weight=loss_weight)
        if level_check not in LEVEL_CHECKS:
            raise ValueError(f'level_check must be one of {LEVEL_CHECKS}, '
                             f'got {level_check!r}')
        if not levels or any(int(level) < 1 for level in levels):
            raise ValueError(
                f'levels must be pooled sizes >= 1, got {levels!r}')
        self.levels = tuple(int(level) for level in levels)
        self.level_check = level_check

    def forward(self, preds: Union[Tensor, Sequence[Tensor]],
                targets: Union[Tensor, Sequence[Tensor]]) -> Tensor:
        """Sum of the stages' HCL.

        Args:
            preds (Tensor | Sequence[Tensor]): Student maps per stage,
                ``(N, C, H, W)`` each.
            targets (Tensor | Sequence[Tensor]): Teacher maps per stage.

        Returns:
            Tensor: A scalar.
        """
        preds, targets = _as_list(preds), _as_list(targets)
        if len(preds) != len(targets):
            raise ValueError(
                f'HierarchicalContextLoss: {len(preds)} student stages but '
                f'{len(targets)} teacher stages')
        for i, (p, t) in enumerate(zip(preds, targets)):
            if p.dim() != 4 or p.shape != t.shape:
                raise ValueError(
                    f'HierarchicalContextLoss: stage {i + 1}: student map '
                    f'{tuple(p.shape)} and teacher map {tuple(t.shape)} '
                    'must be (N, C, H, W) of one shape')
        loss = sum(
            hierarchical_context_loss(p, t, self.levels, self.level_check)
            for p, t in zip(preds, targets))
        return self.loss_weight * loss

    def extra_repr(self) -> str:
        return (f'levels={self.levels}, level_check={self.level_check!r}, '
                f'loss_weight={self.loss_weight}')


@MODELS.register_module()
class WeightedEmbeddingLoss(BaseDistillLoss):
    """TransKD's patch-embedding loss: ``sum_i w_i * MSE(e_s_i, e_t_i)``
    over the stages, each MSE a mean over all elements (official training
    scripts, ``--embed 5`` with ``--embed-weights (0.1, 0.1, 0.5, 1)``).

    It takes the stages whole (``takes_sequences``): the student's
    embeddings after :class:`PatchEmbedAlign`, :class:`GLMixer` or
    :class:`EmbeddingAssistant`, and the teacher's embeddings.

    Args:
        stage_weights (Sequence[float]): ``w_i``, one per stage. Defaults to
            (0.1, 0.1, 0.5, 1.0).
        loss_weight (float): Factor of the loss. Defaults to 1.0.
    """

    takes_sequences = True
    requires_same_shape = True

    def __init__(self,
                 stage_weights: Sequence[float] = (0.1, 0.1, 0.5, 1.0),
                 loss_weight: float = 1.0) -> None:
        super().__init__(loss_weight=loss_weight)
        if not stage_weights or any(w < 0 for w in stage_weights):
            raise ValueError('stage_weights must be weights >= 0, one per '
                             f'stage, got {stage_weights!r}')
        self.stage_weights = tuple(float(w) for w in stage_weights)

    def forward(self, preds: Union[Tensor, Sequence[Tensor]],
                targets: Union[Tensor, Sequence[Tensor]]) -> Tensor:
        """Weighted sum of the stages' MSE.

        Args:
            preds (Tensor | Sequence[Tensor]): Student embeddings per stage.
            targets (Tensor | Sequence[Tensor]): Teacher embeddings.

        Returns:
            Tensor: A scalar.
        """
        preds, targets = _as_list(preds), _as_list(targets)
        if not len(preds) == len(targets) == len(self.stage_weights):
            raise ValueError(
                f'WeightedEmbeddingLoss: {len(preds)} student and '
                f'{len(targets)} teacher embeddings for '
                f'{len(self.stage_weights)} stage_weights '
                f'{list(self.stage_weights)}')
        loss = sum(
            w * F.mse_loss(p, t.detach())
            for w, p, t in zip(self.stage_weights, preds, targets))
        return self.loss_weight * loss

    def extra_repr(self) -> str:
        return (f'stage_weights={self.stage_weights}, '
                f'loss_weight={self.loss_weight}')
