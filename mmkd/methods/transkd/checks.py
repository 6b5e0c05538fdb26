# Copyright (c) mmkd contributors. All rights reserved.
"""Build-time checks of TransKD's connectors against the tapped models.

The channels of a tap are read from the tapped module, without running
the model: a patch embedding (mmseg's ``PatchEmbed``, whose ``projection``
conv maps its NCHW input to NLC tokens) and a MiT-like backbone (``layers``
of ``[patch_embed, blocks, norm]`` and ``out_indices``, whose outputs are
the stages). A tap whose channels cannot be read this way is checked when
the connector first runs, with the same messages.
"""
from typing import Any, List, Optional, Sequence, Tuple, Union

import torch.nn as nn

Channels = Optional[Union[int, List[int]]]


def is_patch_embed(module: nn.Module) -> bool:
    """Whether ``module`` is a patch embedding (has a ``projection``
    conv), as the four ``backbone.layers.{i}.0`` of mmseg's MiT."""
    return isinstance(getattr(module, 'projection', None), nn.Conv2d)


def _stage_embeds(module: nn.Module) -> Optional[List[nn.Module]]:
    """The patch embeddings of a MiT-like backbone's stages, or None."""
    layers = getattr(module, 'layers', None)
    if not isinstance(layers, nn.ModuleList) or not all(
            isinstance(layer, nn.ModuleList) and len(layer) > 0
            and is_patch_embed(layer[0]) for layer in layers):
        return None
    return [layer[0] for layer in layers]


def tap_channels(model: nn.Module, tap: dict) -> Channels:
    """Channels of what a tap yields, read from the tapped module.

    Args:
        model (nn.Module): The tapped model.
        tap (dict): A parsed tap config (``path``, ``io``, ``index``).

    Returns:
        int | list[int] | None: The channels of one tensor (a patch
        embedding's tokens or input), a list for a backbone yielding its
        stages, or None when they cannot be read from the module.
    """
    module = model.get_submodule(tap['path'])
    index = tuple(tap['index'])
    if tap['method'] is not None:
        return None
    if is_patch_embed(module):
        conv = module.projection
        if tap['io'] == 'input' and index in ((), (0, )):
            return conv.in_channels
        if tap['io'] == 'output' and index == (0, ):
            return conv.out_channels
        return None
    embeds = _stage_embeds(module)
    if embeds is None or index:
        return None
    if tap['io'] == 'input':
        return embeds[0].projection.in_channels
    out_indices = getattr(module, 'out_indices', range(len(embeds)))
    if isinstance(out_indices, int):
        out_indices = [out_indices]
    return [embeds[i].projection.out_channels for i in out_indices]


def tap_stages(model: nn.Module,
               taps: Any) -> Optional[List[Tuple[str, Optional[int]]]]:
    """The stages a loss reads: ``(where, channels)`` per stage.

    Args:
        model (nn.Module): The tapped model.
        taps (dict | list[dict]): One tap config (a backbone yielding its
            stages) or a list of them (one per stage).

    Returns:
        list[tuple] | None: ``where`` names the module path (and the
        output's position for a backbone); ``channels`` may be None. None
        when one tap yields stages that cannot be counted from its module.
    """
    if isinstance(taps, dict):
        channels = tap_channels(model, taps)
        if isinstance(channels, list):
            return [(f'{taps["path"]} output {i}', c)
                    for i, c in enumerate(channels)]
        return None if channels is None else [(taps['path'], channels)]
    stages = []
    for tap in taps:
        channels = tap_channels(model, tap)
        where = tap['path'] + (' input' if tap['io'] == 'input' else '')
        stages.append((where, channels if isinstance(channels, int)
                       else None))
    return stages


def check_stage_counts(owner: str, student: Optional[list],
                       teacher: Optional[list]) -> None:
    """Refuse a student and a teacher with different numbers of stages."""
    if student is None or teacher is None or len(student) == len(teacher):
        return
    raise ValueError(
        f'{owner}: the student has {len(student)} stages '
        f'({", ".join(w for w, _ in student)}) but the teacher has '
        f'{len(teacher)} ({", ".join(w for w, _ in teacher)}); TransKD '
        'pairs the stages one by one, tap as many on both sides')


def check_stage_channels(owner: str, side: str, stages: Optional[list],
                         expected: Sequence[int], key: str,
                         what: str = 'channels') -> None:
    """Refuse stages whose count or channels differ from ``expected``.

    Args:
        owner (str): The connector and its loss, named in messages.
        side (str): ``'student'`` or ``'teacher'``.
        stages (list, optional): From :func:`tap_stages`; None skips.
        expected (Sequence[int]): The connector's channel list.
        key (str): Its argument name, e.g. ``'in_channels'``.
        what (str): What the channels are, for messages.
    """
    if stages is None:
        return
    if len(stages) != len(expected):
        raise ValueError(
            f'{owner}: the {side} taps give {len(stages)} stages '
            f'({", ".join(w for w, _ in stages)}) but {key} lists '
            f'{len(expected)}: {list(expected)}')
    for i, ((where, channels), want) in enumerate(zip(stages, expected)):
        if channels is not None and channels != want:
            raise ValueError(
                f'{owner}: stage {i + 1}: the {side} {what} at {where} have '
                f'{channels} channels but {key}[{i}] is {want} (the '
                f'{side}\'s {what} per stage: '
                f'{[c for _, c in stages]}, {key}: {list(expected)})')


def check_sequence(owner: str, feats: Any, expected: Sequence[int],
                   key: str, dims: int, what: str) -> None:
    """Refuse, when a connector runs, inputs that do not fit its channels.

    Args:
        owner (str): The connector, named in messages.
        feats (Any): What the connector was given.
        expected (Sequence[int]): Channels per stage.
        key (str): The argument holding ``expected``.
        dims (int): 4 for NCHW maps, 3 for NLC tokens.
        what (str): What the inputs are, for messages.
    """
    if not isinstance(feats, (list, tuple)):
        raise TypeError(f'{owner} takes a list of {len(expected)} {what}s, '
                        f'got {type(feats).__name__}')
    if len(feats) != len(expected):
        raise ValueError(f'{owner}: got {len(feats)} {what}s but {key} lists '
                         f'{len(expected)}: {list(expected)}')
    layout = 'NCHW' if dims == 4 else 'NLC'
    channel_dim = 1 if dims == 4 else -1
    for i, (feat, want) in enumerate(zip(feats, expected)):
        shape = tuple(getattr(feat, 'shape', ()))
        if len(shape) != dims or shape[channel_dim] != want:
            raise ValueError(
                f'{owner}: stage {i + 1}: the {what} has shape {shape} but '
                f'{key}[{i}] is {want} ({layout} expected: shapes '
                f'{[tuple(getattr(f, "shape", ())) for f in feats]}, '
                f'{key}: {list(expected)})')
