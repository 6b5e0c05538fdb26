# Copyright (c) mmkd contributors. All rights reserved.
"""TransKD's Cross Selective Fusion (CSF) of the student's stages."""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from mmkd.registry import MODELS
from .checks import (check_sequence, check_stage_channels,
                     check_stage_counts, tap_stages)


class _FusionBlock(nn.Module):
    """One stage of CSF: ``x`` to ``mid_channels``, fused with the deeper
    stage's residual by a selective-kernel attention, then to the teacher's
    channels.

    Args:
        in_channels (int): The student stage's channels.
        mid_channels (int): Channels of the residual path.
        out_channels (int): The teacher stage's channels.
        fuse (bool): Whether a deeper residual is fused in (every stage
            but the deepest).
        fuse_channels (int): Channels of the squeezed attention.
        faithful_bs1_branch (bool): At batch size 1 use a separate conv +
            ReLU (``fc1``) instead of the shared conv + BN + ReLU (``fc``),
            as the reference code does.
    """

    def __init__(self, in_channels: int, mid_channels: int,
                 out_channels: int, fuse: bool, fuse_channels: int,
                 faithful_bs1_branch: bool) -> None:
        super().__init__()
        self.fuse = fuse
        self.faithful_bs1_branch = faithful_bs1_branch
        self.reduce = nn.Sequential(
            nn.Conv2d(in_channels, mid_channels, 1, bias=False),
            nn.BatchNorm2d(mid_channels))
        self.out = nn.Sequential(
            nn.Conv2d(mid_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels))
        # the reference's init of the two convs; the rest keeps PyTorch's
        nn.init.kaiming_uniform_(self.reduce[0].weight, a=1)
        nn.init.kaiming_uniform_(self.out[0].weight, a=1)
        if fuse:
            self.fc = nn.Sequential(
                nn.Conv2d(mid_channels, fuse_channels, 1, bias=False),
                nn.BatchNorm2d(fuse_channels), nn.ReLU())
            if faithful_bs1_branch:
                self.fc1 = nn.Sequential(
                    nn.Conv2d(mid_channels, fuse_channels, 1, bias=False),
                    nn.ReLU())
            self.fcs = nn.ModuleList([
                nn.Conv2d(fuse_channels, mid_channels, 1) for _ in range(2)
            ])

    def squeeze(self, pooled: Tensor) -> Tensor:
        """``fc`` on the pooled ``(N, mid, 1, 1)`` descriptor."""
        if pooled.shape[0] == 1:
            if self.faithful_bs1_branch:
                return self.fc1(pooled)
            if self.training:
                # BN cannot take batch statistics of one value per
                # channel: normalise with the running ones, left unchanged
                conv, bn, act = self.fc
                out = F.batch_norm(conv(pooled), bn.running_mean,
                                   bn.running_var, bn.weight, bn.bias,
                                   False, 0., bn.eps)
                return act(out)
        return self.fc(pooled)

    def forward(self, x: Tensor,
                residual: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """Return the map at the teacher's channels and the residual for
        the next shallower stage."""
        x = self.reduce(x)
        if self.fuse:
            residual = F.interpolate(residual, x.shape[-2:], mode='nearest')
            branches = torch.stack([x, residual], dim=1)
            pooled = F.adaptive_avg_pool2d(branches.sum(dim=1), 1)
            squeezed = self.squeeze(pooled)
            attention = torch.stack([fc(squeezed) for fc in self.fcs], dim=1)
            x = (branches * attention.softmax(dim=1)).sum(dim=1)
        return self.out(x), x


@MODELS.register_module()
class CrossStageFusion(BaseModule):
    """TransKD's Cross Selective Fusion (CSF) of the student's stages.

    From the deepest stage to the shallowest: a 1x1 conv + BN maps the
    stage to ``mid_channels``; except at the deepest stage, the deeper
    stage's result is nearest-upsampled, both are summed and average-pooled,
    squeezed by a 1x1 conv + BN + ReLU to ``fuse_channels`` and expanded by
    two 1x1 convs into per-channel weights of the two branches (softmax
    over the branches), whose weighted sum is this stage's result; a 3x3
    conv + BN maps it to the teacher's channels. Liu et al., "TransKD:
    Transformer Knowledge Distillation for Efficient Semantic
    Segmentation", 2022 (official ``train/CSF.py``).

    It reads all the stages at once (``takes_sequences``): give it as the
    ``connector=`` of a loss reading the stages, e.g. the ``backbone``
    output of mmseg's MiT (a list of NCHW maps) or a list of stage taps.

    Args:
        in_channels (Sequence[int]): The student's channels per stage,
            shallow to deep (MiT-B0: 32, 64, 160, 256).
        out_channels (Sequence[int]): The teacher's channels per stage
            (MiT-B2: 64, 128, 320, 512).
        mid_channels (int): Channels of the fused path. Defaults to 64.
        fuse_channels (int, optional): Channels of the squeezed attention;
            None gives the reference's ``max(mid_channels // 16, 32)``.
        faithful_bs1_branch (bool): The reference switches, at batch size
            1, to a separate conv + ReLU (``fc1``) whose weights are not
            those of the shared conv + BN + ReLU, so a model trained at
            batch 2 runs an untrained branch at batch 1. True reproduces
            that; the default False keeps the shared branch at batch 1 and,
            in training, normalises it with the BN's running statistics
            (batch statistics of one value are undefined).
        init_cfg (dict, optional): Initialization config. Defaults to None.

    Examples:
        >>> import torch
        >>> csf = CrossStageFusion([8, 16], [16, 32])
        >>> outs = csf([torch.rand(2, 8, 8, 8), torch.rand(2, 16, 4, 4)])
        >>> [tuple(o.shape) for o in outs]
        [(2, 16, 8, 8), (2, 32, 4, 4)]
    """

    takes_sequences = True

    def __init__(self,
                 in_channels: Sequence[int],
                 out_channels: Sequence[int],
                 mid_channels: int = 64,
                 fuse_channels: Optional[int] = None,
                 faithful_bs1_branch: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = [int(c) for c in in_channels]
        self.out_channels = [int(c) for c in out_channels]
        if not self.in_channels or len(self.in_channels) != len(
                self.out_channels):
            raise ValueError(
                'CrossStageFusion: in_channels (student) and out_channels '
                '(teacher) need one entry per stage, got '
                f'{self.in_channels} and {self.out_channels}')
        if fuse_channels is None:
            fuse_channels = max(mid_channels // 16, 32)
        self.faithful_bs1_branch = faithful_bs1_branch
        last = len(self.in_channels) - 1
        self.blocks = nn.ModuleList([
            _FusionBlock(c_in, mid_channels, c_out, i < last, fuse_channels,
                         faithful_bs1_branch)
            for i, (c_in, c_out) in enumerate(
                zip(self.in_channels, self.out_channels))
        ])

    def check_models(self, name: str, student: nn.Module,
                     teacher: Optional[nn.Module], student_tap,
                     teacher_tap) -> None:
        """Refuse stage counts and channels that differ from the taps'."""
        owner = f'CrossStageFusion of distill loss {name!r}'
        s_stages = tap_stages(student, student_tap)
        t_stages = (tap_stages(teacher, teacher_tap)
                    if teacher is not None else None)
        check_stage_counts(owner, s_stages, t_stages)
        check_stage_channels(owner, 'student', s_stages, self.in_channels,
                             'in_channels', 'stage maps')
        check_stage_channels(owner, 'teacher', t_stages, self.out_channels,
                             'out_channels', 'stage maps')

    def forward(self, feats: Sequence[Tensor]) -> List[Tensor]:
        """Fuse the student's stages (shallow to deep, NCHW) into maps of
        the teacher's channels, in the same order."""
        check_sequence('CrossStageFusion', feats, self.in_channels,
                       'in_channels', 4, 'student stage map')
        out, residual = self.blocks[-1](feats[-1])
        outs = [out]
        for i in range(len(feats) - 2, -1, -1):
            out, residual = self.blocks[i](feats[i], residual)
            outs.insert(0, out)
        return outs
