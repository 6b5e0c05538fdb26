# Copyright (c) mmkd contributors. All rights reserved.
"""TransKD's connectors of patch embeddings: PEA, GL-Mixer and EA."""
import math
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from mmkd.registry import MODELS
from .checks import (check_sequence, check_stage_channels,
                     check_stage_counts, is_patch_embed, tap_channels,
                     tap_stages)


def _channel_lists(owner: str, in_channels: Sequence[int],
                   out_channels: Sequence[int]) -> tuple:
    in_channels = [int(c) for c in in_channels]
    out_channels = [int(c) for c in out_channels]
    if not in_channels or len(in_channels) != len(out_channels):
        raise ValueError(
            f'{owner}: in_channels (student) and out_channels (teacher) '
            f'need one entry per stage, got {in_channels} and '
            f'{out_channels}')
    return in_channels, out_channels


class _SelfAttention(nn.Module):
    """Multi-head self-attention on NLC tokens (no dropout), as the
    reference's ``Attention``: ``softmax(q k^T / sqrt(d_head)) v``, then a
    linear projection with bias."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads)**-0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        n, length, dim = x.shape
        q, k, v = self.qkv(x).reshape(n, length, 3, self.num_heads,
                                      dim // self.num_heads).permute(
                                          2, 0, 3, 1, 4)
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(n, length, dim))


@MODELS.register_module()
class GLMixer(BaseModule):
    """TransKD-GL's Global-Local Mixer on one stage's patch embedding.

    ``e' = a * MHSA(e) + b * GLU(e)`` (plus ``e`` when ``add``), where
    ``GLU(e) = Conv1d(e) * sigmoid(Conv1d'(e))`` runs along the tokens
    (kernel 3) and MHSA has ``num_heads`` heads; then, with
    ``out_channels``, PEA's linear map to the teacher's channels
    (official ``train/CSF_GLMixer.py``, on the stage-4 embedding).

    The reference never initialises ``a`` and ``b`` (``torch.FloatTensor(1)``
    is uninitialised memory); they start here at ``attn_weight_init`` and
    ``glu_weight_init`` and are trained with the student.

    Args:
        in_channels (int): The student embedding's channels.
        out_channels (int, optional): The teacher's; None leaves the mixed
            embedding at ``in_channels`` (no linear map).
        num_heads (int): Heads of the MHSA; must divide ``in_channels``.
            Defaults to 8.
        qkv_bias (bool): Bias of the query/key/value map. Defaults to
            False, as the reference.
        add (bool): Add the embedding itself (the reference's ``--add``).
            Defaults to False, the reference's default.
        attn_weight_init (float): Initial ``a``. Defaults to 1.0.
        glu_weight_init (float): Initial ``b``. Defaults to 1.0.
        init_cfg (dict, optional): Initialization config. Defaults to None.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: Optional[int] = None,
                 num_heads: int = 8,
                 qkv_bias: bool = False,
                 add: bool = False,
                 attn_weight_init: float = 1.0,
                 glu_weight_init: float = 1.0,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_heads < 1 or in_channels % num_heads:
            raise ValueError(
                f'GLMixer: num_heads={num_heads} does not divide the '
                f'embedding dim in_channels={in_channels} (the MHSA splits '
                'the channels into equal heads)')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.add = add
        self.attn = _SelfAttention(in_channels, num_heads, qkv_bias)
        self.glu_value = nn.Conv1d(in_channels, in_channels, 3, padding=1)
        self.glu_gate = nn.Conv1d(in_channels, in_channels, 3, padding=1)
        self.attn_weight = nn.Parameter(torch.tensor([attn_weight_init]))
        self.glu_weight = nn.Parameter(torch.tensor([glu_weight_init]))
        self.proj = (nn.Linear(in_channels, out_channels)
                     if out_channels is not None else None)

    def check_models(self, name: str, student: nn.Module,
                     teacher: Optional[nn.Module], student_tap,
                     teacher_tap) -> None:
        """Refuse a tapped embedding of other channels (as the connector of
        one tap)."""
        _check_one_tap(f'GLMixer of distill loss {name!r}', student,
                       teacher, student_tap, teacher_tap, self.in_channels,
                       self.out_channels)

    def forward(self, x: Tensor) -> Tensor:
        """Mix ``(N, L, C_s)`` tokens; return ``(N, L, C_t)`` (or ``C_s``
        without ``out_channels``)."""
        check_sequence('GLMixer', [x], [self.in_channels], 'in_channels', 3,
                       'student embedding')
        tokens = x.transpose(1, 2)
        glu = self.glu_value(tokens) * self.glu_gate(tokens).sigmoid()
        mixed = (self.attn_weight * self.attn(x) +
                 self.glu_weight * glu.transpose(1, 2))
        if self.add:
            mixed = mixed + x
        return self.proj(mixed) if self.proj is not None else mixed


def _check_one_tap(owner, student, teacher, student_tap, teacher_tap,
                   in_channels, out_channels) -> None:
    if not isinstance(student_tap, dict):
        raise TypeError(f'{owner} maps one embedding: give it as the '
                        'connector of one tap, or inside PatchEmbedAlign '
                        '(stage_connectors=)')
    got = tap_channels(student, student_tap)
    if isinstance(got, int) and got != in_channels:
        raise ValueError(
            f'{owner}: the student embedding at {student_tap["path"]} has '
            f'{got} channels but in_channels is {in_channels}')
    if teacher is None or out_channels is None:
        return
    got = tap_channels(teacher, teacher_tap)
    if isinstance(got, int) and got != out_channels:
        raise ValueError(
            f'{owner}: the teacher embedding at {teacher_tap["path"]} has '
            f'{got} channels but out_channels is {out_channels}')


@MODELS.register_module()
class PatchEmbedAlign(BaseModule):
    """TransKD's Patch Embedding Alignment (PEA): a linear map per stage
    of the student's patch-embedding tokens to the teacher's channels.

    It reads all the stages at once (``takes_sequences``), e.g. the tokens
    of mmseg MiT's ``backbone.layers.{i}.0`` (``index=0``, NLC, after the
    patch embedding's LayerNorm), and returns one ``(N, L, C_t)`` tensor per
    stage.

    Args:
        in_channels (Sequence[int]): The student's embedding channels per
            stage.
        out_channels (Sequence[int]): The teacher's per stage.
        stage_connectors (Sequence[dict | None], optional): One entry per
            stage: None keeps the linear map, a connector config replaces
            it (its ``in_channels`` and ``out_channels`` default to the
            stage's), e.g. ``[None, None, None, dict(type='GLMixer')]`` for
            TransKD-GL. Defaults to None.
        init_cfg (dict, optional): Initialization config. Defaults to None.

    Examples:
        >>> import torch
        >>> pea = PatchEmbedAlign([8, 16], [16, 32])
        >>> outs = pea([torch.rand(2, 64, 8), torch.rand(2, 16, 16)])
        >>> [tuple(o.shape) for o in outs]
        [(2, 64, 16), (2, 16, 32)]
    """

    takes_sequences = True

    def __init__(self,
                 in_channels: Sequence[int],
                 out_channels: Sequence[int],
                 stage_connectors: Optional[Sequence[Optional[dict]]] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels, self.out_channels = _channel_lists(
            'PatchEmbedAlign', in_channels, out_channels)
        if stage_connectors is None:
            stage_connectors = [None] * len(self.in_channels)
        if len(stage_connectors) != len(self.in_channels):
            raise ValueError(
                f'PatchEmbedAlign: stage_connectors has '
                f'{len(stage_connectors)} entries for '
                f'{len(self.in_channels)} stages (None keeps a stage\'s '
                'linear map)')
        self.projs = nn.ModuleList()
        for i, cfg in enumerate(stage_connectors):
            c_in, c_out = self.in_channels[i], self.out_channels[i]
            if cfg is None:
                self.projs.append(nn.Linear(c_in, c_out))
                continue
            cfg = dict(cfg)
            for key, value in (('in_channels', c_in),
                               ('out_channels', c_out)):
                if cfg.setdefault(key, value) != value:
                    raise ValueError(
                        f'PatchEmbedAlign: stage_connectors[{i}] has '
                        f'{key}={cfg[key]} but stage {i + 1} has {value}')
            cfg.setdefault('_scope_', 'mmkd')
            self.projs.append(MODELS.build(cfg))

    def check_models(self, name: str, student: nn.Module,
                     teacher: Optional[nn.Module], student_tap,
                     teacher_tap) -> None:
        """Refuse stage counts and channels that differ from the taps'."""
        owner = f'PatchEmbedAlign of distill loss {name!r}'
        s_stages = tap_stages(student, student_tap)
        t_stages = (tap_stages(teacher, teacher_tap)
                    if teacher is not None else None)
        check_stage_counts(owner, s_stages, t_stages)
        check_stage_channels(owner, 'student', s_stages, self.in_channels,
                             'in_channels', 'embeddings')
        check_stage_channels(owner, 'teacher', t_stages, self.out_channels,
                             'out_channels', 'embeddings')

    def forward(self, embeds: Sequence[Tensor]) -> List[Tensor]:
        """Map each stage's ``(N, L, C_s)`` tokens to ``(N, L, C_t)``."""
        check_sequence('PatchEmbedAlign', embeds, self.in_channels,
                       'in_channels', 3, 'student embedding')
        return [proj(e) for proj, e in zip(self.projs, embeds)]


class OverlapPatchEmbed(nn.Module):
    """A conv with ``padding = kernel_size // 2``, flattened to NLC tokens
    and layer-normalised: the patch embedding of MiT and of TransKD's
    assistants, initialised as the reference does (conv weights
    ``N(0, 2 / (k * k * C_out))``, zero bias; LayerNorm 1 and 0)."""

    def __init__(self, in_channels: int, out_channels: int,
                 kernel_size: int, stride: int) -> None:
        super().__init__()
        self.projection = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=kernel_size // 2)
        self.norm = nn.LayerNorm(out_channels)
        fan_out = kernel_size * kernel_size * out_channels
        nn.init.normal_(self.projection.weight, 0, math.sqrt(2.0 / fan_out))
        nn.init.zeros_(self.projection.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.projection(x).flatten(2).transpose(1, 2))


@MODELS.register_module()
class EmbeddingAssistant(BaseModule):
    """TransKD-EA: each stage's PEA embedding fused with an assistant
    patch embedding of the stage's own input.

    For stage ``i``: ``w_i * Linear_i(e_i) + w_(i+n) * PE_i(x_i)``, where
    ``e_i`` is the student's patch embedding (NLC), ``x_i`` what the
    student's patch embedding of that stage read (the image at stage 1, the
    previous stage's NCHW output after it) and ``PE_i`` a learnable overlap
    patch embedding to the teacher's channels (7x7 stride 4 at stage 1,
    3x3 stride 2 after); the ``2n`` scalars ``w`` start at 0.1, 0.2, ...
    (official ``train/CSF_EA.py``). The weights live here and train with
    the student.

    It reads ``2n`` taps at once (``takes_sequences``): the ``n`` student
    embeddings, then the ``n`` inputs of the same patch embeddings, i.e.
    on mmseg's MiT ``dict(path='backbone.layers.{i}.0', index=0)`` then
    ``dict(path='backbone.layers.{i}.0', io='input')``.

    Args:
        in_channels (Sequence[int]): The student's embedding channels per
            stage.
        out_channels (Sequence[int]): The teacher's per stage.
        image_channels (int): Channels of the image, read by stage 1's
            assistant. Defaults to 3.
        kernel_sizes (Sequence[int]): The assistants' kernels, as the
            student's patch embeddings. Defaults to (7, 3, 3, 3).
        strides (Sequence[int]): Their strides. Defaults to (4, 2, 2, 2).
        weight_init (Sequence[float], optional): The ``2n`` initial fusion
            weights, PEA's then the assistants'. None gives 0.1, 0.2, ...
            as the reference.
        init_cfg (dict, optional): Initialization config. Defaults to None.
    """

    takes_sequences = True

    def __init__(self,
                 in_channels: Sequence[int],
                 out_channels: Sequence[int],
                 image_channels: int = 3,
                 kernel_sizes: Sequence[int] = (7, 3, 3, 3),
                 strides: Sequence[int] = (4, 2, 2, 2),
                 weight_init: Optional[Sequence[float]] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels, self.out_channels = _channel_lists(
            'EmbeddingAssistant', in_channels, out_channels)
        n = len(self.in_channels)
        for key, value in (('kernel_sizes', kernel_sizes),
                           ('strides', strides)):
            if len(value) != n:
                raise ValueError(f'EmbeddingAssistant: {key} has '
                                 f'{len(value)} entries for {n} stages')
        if weight_init is None:
            weight_init = [0.1 * (i + 1) for i in range(2 * n)]
        if len(weight_init) != 2 * n:
            raise ValueError(
                f'EmbeddingAssistant: weight_init needs {2 * n} values (PEA '
                f'then the assistants, per stage), got {list(weight_init)}')
        self.source_channels = [image_channels] + self.in_channels[:-1]
        self.kernel_sizes = [int(k) for k in kernel_sizes]
        self.strides = [int(s) for s in strides]
        self.projs = nn.ModuleList(
            [nn.Linear(c, t) for c, t in zip(self.in_channels,
                                              self.out_channels)])
        self.assistants = nn.ModuleList([
            OverlapPatchEmbed(c, t, k, s)
            for c, t, k, s in zip(self.source_channels, self.out_channels,
                                  self.kernel_sizes, self.strides)
        ])
        self.fuse_weights = nn.Parameter(
            torch.tensor([float(w) for w in weight_init]))

    def check_models(self, name: str, student: nn.Module,
                     teacher: Optional[nn.Module], student_tap,
                     teacher_tap) -> None:
        """Refuse taps that are no patch embeddings, or channels, kernels,
        strides and stage counts that differ from the models'."""
        owner = f'EmbeddingAssistant of distill loss {name!r}'
        n = len(self.in_channels)
        if not isinstance(student_tap, list) or len(student_tap) != 2 * n:
            raise ValueError(
                f'{owner} reads {2 * n} student taps: the {n} patch '
                f'embeddings, then their {n} inputs; got {student_tap}')
        for i, tap in enumerate(student_tap):
            module = student.get_submodule(tap['path'])
            if not is_patch_embed(module):
                raise ValueError(
                    f'{owner}: the student\'s {tap["path"]} '
                    f'({type(module).__name__}) is not a patch embedding: '
                    'EA needs a backbone with patch embeddings (a conv '
                    '`projection` to tokens, as the backbone.layers.{i}.0 '
                    'of mmseg\'s MixVisionTransformer)')
            conv = module.projection
            stage = i % n
            want = (self.kernel_sizes[stage], self.strides[stage])
            if i < n and (conv.kernel_size[0], conv.stride[0]) != want:
                raise ValueError(
                    f'{owner}: stage {stage + 1}: the student\'s patch '
                    f'embedding {tap["path"]} has kernel '
                    f'{conv.kernel_size[0]} stride {conv.stride[0]} but the '
                    f'assistant kernel {want[0]} stride {want[1]} '
                    '(kernel_sizes, strides): their tokens would not align')
        s_stages = tap_stages(student, student_tap[:n])
        t_stages = (tap_stages(teacher, teacher_tap)
                    if teacher is not None else None)
        check_stage_counts(owner, s_stages, t_stages)
        check_stage_channels(owner, 'student', s_stages, self.in_channels,
                             'in_channels', 'embeddings')
        check_stage_channels(owner, 'student',
                             tap_stages(student, student_tap[n:]),
                             self.source_channels,
                             '[image_channels] + in_channels[:-1]',
                             'patch-embedding inputs')
        check_stage_channels(owner, 'teacher', t_stages, self.out_channels,
                             'out_channels', 'embeddings')

    def forward(self, feats: Sequence[Tensor]) -> List[Tensor]:
        """Fuse the ``n`` student embeddings (NLC) with the assistants'
        embeddings of the ``n`` inputs (NCHW); return ``n`` tensors of
        shape ``(N, L, C_t)``."""
        n = len(self.in_channels)
        if not isinstance(feats, (list, tuple)) or len(feats) != 2 * n:
            raise ValueError(
                f'EmbeddingAssistant takes {2 * n} tensors (the {n} student '
                f'embeddings, then their {n} inputs), got '
                f'{len(feats) if isinstance(feats, (list, tuple)) else feats}')
        embeds, sources = feats[:n], feats[n:]
        check_sequence('EmbeddingAssistant', embeds, self.in_channels,
                       'in_channels', 3, 'student embedding')
        check_sequence('EmbeddingAssistant', sources, self.source_channels,
                       '[image_channels] + in_channels[:-1]', 4,
                       'patch-embedding input')
        w = self.fuse_weights
        outs = []
        for i in range(n):
            pea = self.projs[i](embeds[i])
            assist = self.assistants[i](sources[i])
            if assist.shape != pea.shape:
                raise ValueError(
                    f'EmbeddingAssistant: stage {i + 1}: the assistant gives '
                    f'{tuple(assist.shape)} from an input of '
                    f'{tuple(sources[i].shape)} but the student embedding '
                    f'maps to {tuple(pea.shape)}: set kernel_sizes and '
                    'strides to those of the student\'s patch embeddings')
            outs.append(w[i] * pea + w[i + n] * assist)
        return outs
