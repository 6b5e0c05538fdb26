# Copyright (c) mmkd contributors. All rights reserved.
import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from mmkd.models.losses import BaseDistillLoss
from mmkd.registry import MODELS


def lpld_kl(student_logits: Tensor,
            teacher_logits: Tensor,
            weight: Optional[Tensor] = None,
            bg_prob: float = 1e-9) -> Tensor:
    r"""Per-proposal KL of LPLD: :math:`\sum_c p^T_c(\log p^T_c-\log p^S_c)`.

    ``p_t`` is the softmax over the teacher's foreground logits with a
    constant ``bg_prob`` appended as the background probability (not
    renormalised, as in the official code); ``p_s`` the student's softmax
    over all ``K + 1`` classes (background last).

    Args:
        student_logits (Tensor): (R, K + 1).
        teacher_logits (Tensor): (R, K + 1) or (R, K); detached here.
        weight (Tensor, optional): (R,) per-proposal weight.
        bg_prob (float): In (0, 1). Defaults to 1e-9.

    Returns:
        Tensor: (R,) weighted KL per proposal.
    """
    num_fg = student_logits.shape[1] - 1
    if teacher_logits.shape[1] not in (num_fg, num_fg + 1):
        raise ValueError(
            f'teacher logits {tuple(teacher_logits.shape)} do not match the '
            f'student logits {tuple(student_logits.shape)} (K + 1 with '
            'background last)')
    fg_logits = teacher_logits.detach()[:, :num_fg]
    # in log space: a foreground probability that underflows to 0 (a logit
    # gap above ~104 in float32) gives 0 * log 0 = NaN from probabilities,
    # while its log-softmax stays finite and the term correctly 0
    log_p_t = torch.cat([
        F.log_softmax(fg_logits, dim=1),
        fg_logits.new_full((len(fg_logits), 1), math.log(bg_prob))
    ], dim=1)
    log_p_s = F.log_softmax(student_logits, dim=1)
    kl = (log_p_t.exp() * (log_p_t - log_p_s)).sum(dim=1)
    return kl if weight is None else kl * weight


@MODELS.register_module()
class LPLDLoss(BaseDistillLoss):
    """LPLD's distillation loss on low-confidence pseudo labels.

    The mean over the mined proposals of the weighted per-proposal KL
    (:func:`lpld_kl`), divided by ``divisor`` (10 in the official code),
    times ``loss_weight``. No proposals give a zero that keeps the graph.

    Args:
        divisor (float): Defaults to 10.
        bg_prob (float): Background probability appended to the teacher's
            foreground softmax, in (0, 1). Defaults to 1e-9.
        loss_weight (float): Defaults to 1.0.
    """

    requires_same_shape = False

    def __init__(self,
                 divisor: float = 10.0,
                 bg_prob: float = 1e-9,
                 loss_weight: float = 1.0) -> None:
        super().__init__(loss_weight=loss_weight, reduction='mean')
        if divisor <= 0:
            raise ValueError(f'divisor must be positive, got {divisor}')
        if not 0 < bg_prob < 1:
            raise ValueError(f'bg_prob must be in (0, 1), got {bg_prob}')
        self.divisor = divisor
        self.bg_prob = bg_prob

    def forward(self,
                student_logits: Tensor,
                teacher_logits: Tensor,
                weight: Optional[Tensor] = None) -> Tensor:
        """Args: (R, K + 1) student and teacher logits of the mined
        proposals, (R,) weights. Returns a scalar."""
        if len(student_logits) == 0:
            return student_logits.sum() * 0
        kl = lpld_kl(student_logits, teacher_logits, weight, self.bg_prob)
        return self.loss_weight * kl.mean() / self.divisor

    def extra_repr(self) -> str:
        return (f'divisor={self.divisor}, bg_prob={self.bg_prob}, '
                f'loss_weight={self.loss_weight}')
