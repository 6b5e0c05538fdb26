# Copyright (c) mmkd contributors. All rights reserved.
"""Feature taps: capture the inputs or outputs of named submodules."""
import contextlib
import difflib
import functools
from typing import (Any, Dict, Iterator, List, Optional, Sequence, Tuple,
                    Union)

import torch.nn as nn
from mmengine.model import is_model_wrapper
from torch.utils.hooks import RemovableHandle

TapCfg = Union[str, dict]

_TAP_KEYS = ('path', 'io', 'index', 'method', 'kwargs')
Index = Tuple[Union[int, str], ...]


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
    """Normalise a tap config.

    Args:
        owner (str): ``'student'`` or ``'teacher'``, used in messages.
        name (str): Name of the tap.
        cfg (str | dict): A module path such as ``'decode_head.conv_seg'``
            (its output is captured), or a dict with ``path`` and optionally

            - ``io``: ``'output'`` (default) or ``'input'``;
            - ``index``: an int, a str or a list of them selecting one
              element of what the module returns (or takes): ``0`` takes
              ``tokens`` of ``(tokens, hw_shape)``, ``[0, 'heatmap']``
              goes into nested tuples and dicts; a str first index of an
              input tap names a keyword argument;
            - ``method``: a method of the module to capture instead of
              ``forward`` (e.g. ``'loss_by_feat'``);
            - ``kwargs``: keyword arguments forced on the captured call
              while the tap is enabled, to make a module return what it
              computes anyway, e.g. ``dict(need_weights=True,
              average_attn_weights=False)`` on an ``nn.MultiheadAttention``
              (with ``index=1``: its per-head attention probabilities).

    Returns:
        dict: ``path``, ``io``, ``index`` (a tuple, maybe empty),
        ``method`` (None for ``forward``) and ``kwargs`` (a dict).
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
    index = cfg.get('index', ())
    if isinstance(index, (int, str)):
        index = (index, )
    if not isinstance(index, (list, tuple)) or not all(
            isinstance(i, (int, str)) and not isinstance(i, bool)
            for i in index):
        raise TypeError(f'{owner} tap {name!r}: index must be an int, a str '
                        f'or a list of them, got {cfg.get("index")!r}')
    method = cfg.get('method')
    if method is not None and not isinstance(method, str):
        raise TypeError(f'{owner} tap {name!r}: method must be the name of '
                        f'a method of the module, got {method!r}')
    kwargs = cfg.get('kwargs') or {}
    if not isinstance(kwargs, dict):
        raise TypeError(f'{owner} tap {name!r}: kwargs must be a dict, got '
                        f'{kwargs!r}')
    return dict(path=cfg['path'], io=io, index=tuple(index),
                method=method, kwargs=dict(kwargs))


def describe(value: Any) -> Any:
    """Shapes of tensors and the structure around them, for messages."""
    if hasattr(value, 'shape') and not isinstance(value, (list, tuple)):
        return tuple(value.shape)
    if isinstance(value, dict):
        return {k: describe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(describe(v) for v in value)
    if isinstance(value, (int, float, bool, str)) or value is None:
        return value
    return type(value).__name__


def select(value: Any, index: Sequence[Union[int, str]], what: str) -> Any:
    """``value[index[0]][index[1]]...``, or an error naming ``what``, the
    index and the structure of ``value``."""
    current = value
    for depth, key in enumerate(index):
        try:
            if isinstance(current, dict) or isinstance(key, int):
                current = current[key]
            else:
                current = getattr(current, key)
        except (IndexError, KeyError, TypeError, AttributeError):
            raise IndexError(
                f'{what}: index {list(index)} does not fit what the module '
                f'gave: element {list(index[:depth + 1])} is out of '
                f'{describe(value)}') from None
    return current


class _MethodHandle:
    """Undoes a method tap: the module's own method is used again."""

    def __init__(self, module: nn.Module, method: str, had_own: bool,
                 own: Any) -> None:
        self.module, self.method = module, method
        self.had_own, self.own = had_own, own

    def remove(self) -> None:
        if self.had_own:
            self.module.__dict__[self.method] = self.own
        else:
            self.module.__dict__.pop(self.method, None)


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
        taps (dict): Maps a tap name to a module path or to a dict, see
            :func:`parse_tap_cfg` (``io``, ``index``, ``method``,
            ``kwargs``).
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
            self._handles += self._attach(module, name, cfg)

    def _attach(self, module: nn.Module, name: str, cfg: dict) -> list:
        what = f'{self.owner} tap {name!r} ({cfg["path"]})'
        if cfg['method'] is None:
            handles = [
                module.register_forward_hook(
                    self._make_hook(name, cfg, what), with_kwargs=True)
            ]
            if cfg['kwargs']:
                handles.append(
                    module.register_forward_pre_hook(
                        self._force_kwargs(cfg['kwargs']), with_kwargs=True))
            return handles
        own = getattr(module, cfg['method'], None)
        if not callable(own):
            raise ValueError(f'{what}: {type(module).__name__} has no method '
                             f'{cfg["method"]!r}')
        handle = _MethodHandle(module, cfg['method'],
                               cfg['method'] in module.__dict__,
                               module.__dict__.get(cfg['method']))
        record = self._make_hook(name, cfg, what)

        @functools.wraps(own)
        def captured(*args, **kwargs):
            if self.enabled:
                kwargs.update(cfg['kwargs'])
            output = own(*args, **kwargs)
            record(module, args, kwargs, output)
            return output

        module.__dict__[cfg['method']] = captured
        return [handle]

    def _force_kwargs(self, forced: dict):

        def pre_hook(module, args, kwargs):
            if self.enabled:
                return args, {**kwargs, **forced}
            return None

        return pre_hook

    def _make_hook(self, name: str, cfg: dict, what: str):
        index = cfg['index']

        def hook(module, args, kwargs, output):
            if not self.enabled:
                return
            if cfg['io'] == 'output':
                value = output
            elif index and isinstance(index[0], str) and index[0] in kwargs:
                value = kwargs
            else:
                value = args[0] if len(args) == 1 else args
            if index:
                value = select(value, index, what)
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

    @contextlib.contextmanager
    def switched(self, enabled: bool) -> Iterator['FeatureTaps']:
        """Record (``enabled=True``) or not inside the block; the previous
        setting comes back after it, also when it raises."""
        previous, self.enabled = self.enabled, bool(enabled)
        try:
            yield self
        finally:
            self.enabled = previous

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
        # last attached first: method taps on one method wrap each other
        for handle in reversed(self._handles):
            handle.remove()
        self._handles.clear()
        self.clear()

    def __len__(self) -> int:
        return len(self.cfgs)
