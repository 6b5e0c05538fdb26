# Copyright (c) mmkd contributors. All rights reserved.
"""BPKD's edge and body distillation losses on decode-head logits."""
from typing import Optional, Sequence, Tuple

import torch.nn.functional as F
from torch import Tensor

from mmkd.models.losses import BaseDistillLoss
from mmkd.models.losses.cwd import channel_wise_divergence
from mmkd.registry import MODELS
from .edge_mask import EDGE_ORDERS, IGNORE_MODES, batch_edge_mask


class _BoundaryLossBase(BaseDistillLoss):
    """Shared arguments: builds ``M_E`` and ``M_B`` from the batch's ground
    truth and brings the teacher's logits to the student's size."""

    # teacher logits are resized to the student's here
    requires_same_shape = False

    def __init__(self,
                 tau: float,
                 kernel_size: int = 5,
                 edge_order: str = 'onehot_then_detect',
                 ignore_mode: str = 'outside',
                 ignore_index: int = 255,
                 align_corners: bool = False,
                 loss_weight: float = 1.0) -> None:
        super().__init__(loss_weight=loss_weight, reduction='mean')
        if tau <= 0:
            raise ValueError(f'tau must be positive, got {tau!r}')
        if edge_order not in EDGE_ORDERS:
            raise ValueError(f'edge_order must be one of {EDGE_ORDERS}, got '
                             f'{edge_order!r}')
        if ignore_mode not in IGNORE_MODES:
            raise ValueError(f'ignore_mode must be one of {IGNORE_MODES}, '
                             f'got {ignore_mode!r}')
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(
                f'kernel_size must be odd and >= 1, got {kernel_size}')
        self.tau = tau
        self.kernel_size = kernel_size
        self.edge_order = edge_order
        self.ignore_mode = ignore_mode
        self.ignore_index = ignore_index
        self.align_corners = align_corners

    def split_inputs(self, student: Tensor, teacher: Tensor,
                     data_samples: Sequence
                     ) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """Return student logits, teacher logits at the student's size,
        ``M_E`` and ``M_B`` (all (N, C, h, w))."""
        if student.dim() != 4 or teacher.dim() != 4:
            raise ValueError(
                f'{type(self).__name__} expects decode-head logits of shape '
                f'(N, C, H, W); got student {tuple(student.shape)}, teacher '
                f'{tuple(teacher.shape)}')
        if student.shape[:2] != teacher.shape[:2]:
            raise ValueError(
                f'{type(self).__name__}: student logits {tuple(student.shape)}'
                f' and teacher logits {tuple(teacher.shape)} differ in batch '
                'size or number of classes; teacher and student must be '
                'trained on the same classes')
        teacher = teacher.detach()
        if teacher.shape[2:] != student.shape[2:]:
            teacher = F.interpolate(
                teacher,
                student.shape[2:],
                mode='bilinear',
                align_corners=self.align_corners)
        edge, body = batch_edge_mask(data_samples, student.shape[1],
                                     tuple(student.shape[2:]),
                                     self.kernel_size, self.ignore_index,
                                     self.edge_order, self.ignore_mode,
                                     student.device)
        return (student, teacher, edge.to(student.dtype),
                body.to(student.dtype))

    def extra_repr(self) -> str:
        return (f'tau={self.tau}, kernel_size={self.kernel_size}, '
                f'edge_order={self.edge_order!r}, '
                f'ignore_mode={self.ignore_mode!r}, '
                f'loss_weight={self.loss_weight}')


@MODELS.register_module()
class BoundaryEdgeLoss(_BoundaryLossBase):
    r"""BPKD's edge loss ``L_E`` (Liu et al., WACV 2024, Fig. 3).

    With the soft boundary mask :math:`M_E` (see :func:`boundary_masks`),
    both logit maps are pre-masked, :math:`Z_E = Z \odot M_E`; per pixel,
    :math:`\mathrm{KL}_p = \sum_c p^T_{c,p}\log(p^T_{c,p} / p^S_{c,p})` with
    :math:`p = \mathrm{softmax}_c(Z_E / \tau)`; the KL is repeated over the
    classes, post-masked by :math:`M_E` and summed over positions, giving
    one value per sample and class, multiplied by ``alpha`` and
    :math:`\tau^2` and divided by that class's number of edge pixels
    :math:`n_{n,c}`:

    .. math::
        L_E[n, c] = \alpha\,\tau^2
            \frac{\sum_p M_E[n,c,p]\,\mathrm{KL}_{n,p}}{n_{n,c}}

    Classes without edge pixels in a sample do not count. The defaults are
    those of the public re-implementations: ``L_E`` is the per-sample sum
    over classes averaged over samples (``class_reduction='sum'``), or the
    mean over the counted (sample, class) pairs (``'mean'``), times
    ``loss_weight`` (:math:`\lambda_E`).

    Args:
        tau (float): Softmax temperature. Defaults to 1.0.
        alpha (float): Factor of the figure. Defaults to 2.0.
        kernel_size (int): Dilation/erosion kernel ``k``. Defaults to 5.
        edge_order (str): ``'onehot_then_detect'`` (the references) or
            ``'detect_then_onehot'``.
        ignore_mode (str): ``'outside'`` (the references: classes have a
            band along ignored pixels and the padding; cells weighted by
            their valid fraction) or ``'inside'`` (no band there).
        edge_count (str): :math:`n_{n,c}`: ``'count'`` (pixels with
            ``M_E > 0``, the figure's "number of edge pixels") or ``'soft'``
            (the sum of ``M_E``, clamped at 1 from below). Defaults to
            ``'count'``.
        class_reduction (str): ``'sum'`` or ``'mean'``. Defaults to
            ``'sum'``.
        tau_squared (bool): Multiply by :math:`\tau^2`, as the references
            do. Defaults to True.
        ignore_index (int): Defaults to 255.
        align_corners (bool): For resizing teacher logits. Defaults to
            False.
        loss_weight (float): :math:`\lambda_E`. Defaults to 1.0.
    """

    def __init__(self,
                 tau: float = 1.0,
                 alpha: float = 2.0,
                 kernel_size: int = 5,
                 edge_order: str = 'onehot_then_detect',
                 ignore_mode: str = 'outside',
                 edge_count: str = 'count',
                 class_reduction: str = 'sum',
                 tau_squared: bool = True,
                 ignore_index: int = 255,
                 align_corners: bool = False,
                 loss_weight: float = 1.0) -> None:
        super().__init__(tau, kernel_size, edge_order, ignore_mode,
                         ignore_index, align_corners, loss_weight)
        if edge_count not in ('count', 'soft'):
            raise ValueError(
                f"edge_count must be 'count' or 'soft', got {edge_count!r}")
        if class_reduction not in ('mean', 'sum'):
            raise ValueError("class_reduction must be 'mean' or 'sum', got "
                             f'{class_reduction!r}')
        self.alpha = alpha
        self.edge_count = edge_count
        self.class_reduction = class_reduction
        self.tau_squared = tau_squared

    def forward(self, student: Tensor, teacher: Tensor,
                data_samples: Optional[Sequence] = None) -> Tensor:
        """Compute ``L_E``.

        Args:
            student (Tensor): Student logits (N, C, h, w).
            teacher (Tensor): Teacher logits (N, C, h', w'), resized to
                (h, w) if they differ.
            data_samples (list): mmseg data samples with ``gt_sem_seg``.

        Returns:
            Tensor: A scalar.
        """
        student, teacher, mask, _ = self.split_inputs(student, teacher,
                                                      data_samples)
        log_p_s = F.log_softmax(student * mask / self.tau, dim=1)
        log_p_t = F.log_softmax(teacher * mask / self.tau, dim=1)
        kl = F.kl_div(log_p_s, log_p_t, reduction='none',
                      log_target=True).sum(1, keepdim=True)
        per_class = (kl * mask).flatten(2).sum(2)  # (N, C)
        counted = (mask > 0).flatten(2).sum(2)
        if self.edge_count == 'count':
            count = counted.to(per_class.dtype)
        else:
            count = mask.flatten(2).sum(2).clamp(min=1)
        counted = counted > 0
        scale = self.alpha * (self.tau**2 if self.tau_squared else 1)
        per_class = scale * per_class / count.clamp(min=1e-12)
        per_class = per_class * counted
        if not counted.any():
            loss = student.sum() * 0  # no boundary in the batch
        elif self.class_reduction == 'mean':
            loss = per_class.sum() / counted.sum()
        else:
            loss = per_class.sum(1).mean()
        return self.loss_weight * loss

    def extra_repr(self) -> str:
        return (f'alpha={self.alpha}, edge_count={self.edge_count!r}, '
                f'class_reduction={self.class_reduction!r}, '
                f'tau_squared={self.tau_squared}, ' + super().extra_repr())


@MODELS.register_module()
class BoundaryBodyLoss(_BoundaryLossBase):
    r"""BPKD's body loss ``L_B``: channel-wise divergence on the logits
    outside the boundary band.

    :math:`Z_B = Z \odot M_B` for student and teacher, with the body mask
    :math:`M_B` of :func:`boundary_masks` (``(1 - P) v``: the pooled band's
    complement times each cell's fraction of valid label pixels, or
    ``1 - M_E`` with ``ignore_mode='inside'``); then CWD (Shu et al., ICCV
    2021): each channel is a distribution over positions,
    :math:`\mathrm{softmax}(Z_B / \tau)`, and
    :math:`L_B = \frac{\tau^2}{N C}
    \sum_{n,c}\mathrm{KL}(p^T_{n,c}\|p^S_{n,c})`, times ``loss_weight``
    (:math:`\lambda_B`).

    Args:
        tau (float): Temperature. Defaults to 1.0 (the public
            re-implementations' setting).
        kernel_size (int): Dilation/erosion kernel ``k``. Defaults to 5.
        edge_order (str): As for :class:`BoundaryEdgeLoss`.
        ignore_mode (str): As for :class:`BoundaryEdgeLoss`.
        ignore_index (int): Defaults to 255.
        align_corners (bool): For resizing teacher logits. Defaults to
            False.
        loss_weight (float): :math:`\lambda_B`. Defaults to 1.0.
    """

    def __init__(self,
                 tau: float = 1.0,
                 kernel_size: int = 5,
                 edge_order: str = 'onehot_then_detect',
                 ignore_mode: str = 'outside',
                 ignore_index: int = 255,
                 align_corners: bool = False,
                 loss_weight: float = 1.0) -> None:
        super().__init__(tau, kernel_size, edge_order, ignore_mode,
                         ignore_index, align_corners, loss_weight)

    def forward(self, student: Tensor, teacher: Tensor,
                data_samples: Optional[Sequence] = None) -> Tensor:
        """Compute ``L_B`` (a scalar); arguments as for
        :meth:`BoundaryEdgeLoss.forward`."""
        student, teacher, _, body = self.split_inputs(student, teacher,
                                                      data_samples)
        return self.loss_weight * channel_wise_divergence(
            student * body, teacher * body, tau=self.tau, reduction='mean')
