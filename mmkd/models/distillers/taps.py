# Copyright (c) mmkd contributors. All rights reserved.
"""Feature taps: capture the inputs or outputs of named submodules."""
import difflib
from typing import Any, Dict, List, Optional, Union

import torch.nn as nn
from mmengine.model import is_model_wrapper
from torch.utils.hooks import RemovableHandle

TapCfg = Union[str, dict]

_TAP_KEYS = ('path', 'io')


def _snapshot(value: Any) -> Any:
    """Copy the containers of a captured value, sharing its tensors.

    Models edit their outputs in place after returning them (mmdet3d's
    ``CenterHead.loss_by_feat`` replaces ``preds[0]['heatmap']`` by its
    sigmoid); a tap must keep what the module returned.
    """
    if isinstance(value, dict):
        return type(value)((k, _snapshot(v)) for k, v in value.items())
    if isinstance(value, list):
        return [_snapshot(v) for v in value]
    if isinstance(value, tuple) and not hasattr(value, '_fields'):
        return tuple(_snapshot(v) for v in value)
    return value


class TapsComplete(Exception):
    """Raised from a forward hook to stop a forward once every tap fired."""


def _closest(name: str, candidates: List[str], n: int = 3) -> List[str]:
    matches = difflib.get_close_matches(name, candidates, n=n, cutoff=0.5)
    if not matches:
        # a typo in a later component: suggest siblings of the parent path
        parent = name.rsplit('.', 1)[0] if '.' in name else ''
        matches = [c for c in candidates
                   if c.rsplit('.', 1)[0] == parent][:n]
    return matches


def parse_tap_cfg(owner: str, name: str, cfg: TapCfg) -> dict:
    """Normalise a tap config to ``dict(path=str, io='output'|'input')``.

    Args:
        owner (str): ``'student'`` or ``'teacher'``, used in messages.
        name (str): Name of the tap.
        cfg (str | dict): A module path such as ``'decode_head.conv_seg'``
            (its output is captured) or ``dict(path=..., io='input')``.

    Returns:
        dict: The normalised config.
    """
    if isinstance(cfg, str):
        cfg = dict(path=cfg)
    if not isinstance(cfg, dict) or 'path' not in cfg:
        raise TypeError(f'{owner} tap {name!r} must be a module path or a '
                        f"dict with a 'path' key, got {cfg!r}")
    for key in cfg:
        if key not in _TAP_KEYS:
            close = difflib.get_close_matches(key, _TAP_KEYS, n=1)
            hint = f'; did you mean {close[0]!r}?' if close else ''
            raise KeyError(f'{owner} tap {name!r} has unknown key {key!r} '
                           f'(allowed: {", ".join(_TAP_KEYS)}){hint}')
    io = cfg.get('io', 'output')
    if io not in ('output', 'input'):
        raise ValueError(f"{owner} tap {name!r}: io must be 'output' or "
                         f"'input', got {io!r}")
    return dict(path=cfg['path'], io=io)


class FeatureTaps:
    """Forward hooks that record what named submodules take or return.

    Paths are resolved when the taps are built, so a typo fails before
    training with the closest existing module names suggested. Every hook
    keeps its :class:`RemovableHandle`; :meth:`remove` detaches them all.
    Buffers hold one step's tensors and are emptied by :meth:`pop`.

    A module that runs several times in one forward (e.g. a head shared by
    all FPN levels) yields a tuple with one entry per call.

    Args:
        model (nn.Module): The model to tap. Model wrappers are unwrapped.
        taps (dict): Maps a tap name to a module path or to
            ``dict(path=..., io='output'|'input')``.
        owner (str): ``'student'`` or ``'teacher'``, used in messages.
            Defaults to ``'student'``.
        stop_when_complete (bool): Raise :class:`TapsComplete` from the
            hook that completes the last tap, so a caller can skip the rest
            of the forward. The number of calls per module is learnt on the
            first forward, which always runs to the end. Defaults to False.

    Examples:
        >>> import torch
        >>> net = nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU())
        >>> taps = FeatureTaps(net, dict(conv='0'))
        >>> _ = net(torch.rand(1, 3, 2, 2))
        >>> taps.pop()['conv'].shape
        torch.Size([1, 4, 2, 2])
    """

    def __init__(self,
                 model: nn.Module,
                 taps: Dict[str, TapCfg],
                 owner: str = 'student',
                 stop_when_complete: bool = False) -> None:
        if is_model_wrapper(model):
            model = model.module
        self.owner = owner
        self.stop_when_complete = stop_when_complete
        self.enabled = True
        self.cfgs = {
            name: parse_tap_cfg(owner, name, cfg)
            for name, cfg in taps.items()
        }
        self._buffers: Dict[str, List[Any]] = {name: [] for name in taps}
        self._calls: Optional[Dict[str, int]] = None
        self._handles: List[RemovableHandle] = []
        module_names = [n for n, _ in model.named_modules() if n]
        for name, cfg in self.cfgs.items():
            try:
                module = model.get_submodule(cfg['path'])
            except AttributeError:
                close = _closest(cfg['path'], module_names)
                hint = (f'; closest existing: {", ".join(close)}'
                        if close else '')
                raise ValueError(
                    f'{owner} tap {name!r}: {type(model).__name__} has no '
                    f'module {cfg["path"]!r}{hint}') from None
            self._handles.append(
                module.register_forward_hook(self._make_hook(name, cfg)))

    def _make_hook(self, name: str, cfg: dict):

        def hook(module, args, output):
            if not self.enabled:
                return
            if cfg['io'] == 'output':
                value = output
            else:
                value = args[0] if len(args) == 1 else args
            self._buffers[name].append(_snapshot(value))
            if self.stop_when_complete and self._calls is not None and all(
                    len(self._buffers[n]) >= c
                    for n, c in self._calls.items()):
                raise TapsComplete

        return hook

    @property
    def calls(self) -> Optional[Dict[str, int]]:
        """Calls of each tapped module per forward, learnt on the first
        :meth:`pop`; None before."""
        return self._calls

    def missing(self) -> List[str]:
        """Names of the taps that did not fire since the last :meth:`pop`."""
        return [n for n, buf in self._buffers.items() if not buf]

    def pop(self) -> Dict[str, Any]:
        """Return the captured values and empty the buffers.

        Returns:
            dict: Tap name to the captured value, or to a tuple of values
            for a module that ran several times.

        Raises:
            RuntimeError: If a tap did not fire, or fired a different number
                of times than in the first forward.
        """
        missing = self.missing()
        if missing:
            self.clear()
            raise RuntimeError(
                f'{self.owner} tap(s) {", ".join(map(repr, missing))} did '
                f'not fire in this forward: module(s) '
                f'{", ".join(self.cfgs[n]["path"] for n in missing)} were '
                'not called. Tap a module on the path this forward takes.')
        calls = {n: len(buf) for n, buf in self._buffers.items()}
        if self._calls is None:
            self._calls = calls
        elif calls != self._calls:
            self.clear()
            raise RuntimeError(
                f'{self.owner} taps fired {calls} times, but {self._calls} '
                'in the first forward; taps need a fixed number of calls')
        out = {
            n: buf[0] if len(buf) == 1 else tuple(buf)
            for n, buf in self._buffers.items()
        }
        self.clear()
        return out

    def clear(self) -> None:
        """Drop every captured value."""
        for buf in self._buffers.values():
            buf.clear()

    def remove(self) -> None:
        """Remove every hook from the model and drop the buffers."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self.clear()

    def __len__(self) -> int:
        return len(self.cfgs)
