# Copyright (c) mmkd contributors. All rights reserved.
"""Safe checkpoint loading with the pinned OpenMMLab stack.

``import mmkd`` calls :func:`patch_checkpoint_loading`, which does two
things:

1. torch>=2.6 loads checkpoints with ``weights_only=True`` by default.
   MMEngine 0.10.7 writes its ``HistoryBuffer`` log buffers (numpy float64
   and int64 arrays) into ``message_hub`` and numpy scalars (e.g. a float32
   ``best_score``) into ``runtime_info``, so it can no longer load its own
   checkpoints (``UnpicklingError: Weights only load failed``). Instead of
   turning ``weights_only`` off, which would let any pickle run code,
   exactly the globals those checkpoints refer to are added to torch's
   allow-list (:data:`MMENGINE_CHECKPOINT_GLOBALS`). ``numpy.dtype`` and
   ``getattr`` are allowed only through guards that accept the three dtypes
   and the ``HistoryBuffer`` statistics methods: object arrays, whose items
   pickle may turn into anything, stay refused.
2. MMEngine loads ``http://`` and ``https://`` checkpoints with
   ``torch.hub.load_state_dict_from_url``, whose ``weights_only`` defaults
   to ``False``: a URL could run code that the same file given as a path
   could not. Those prefixes are re-registered in MMEngine's
   ``CheckpointLoader`` to :func:`mmkd.utils.checkpoint.
   load_from_http_safely`, so every URL MMEngine loads (``load_from``,
   ``runner.load_checkpoint``, ``init_cfg=dict(type='Pretrained')``,
   ``torchvision://`` and ``open-mmlab://`` names, which resolve to URLs)
   is loaded with ``weights_only=True``.

torch before 2.4 has no ``add_safe_globals``, and its ``weights_only``
unpickler builds no objects but tensors and dicts: it refuses every
checkpoint an MMEngine Runner writes. There, :func:`load_weights_only`
(which mmkd's own loads go through) unpickles with a plain
:class:`pickle.Unpickler` whose ``find_class`` returns only torch's own
``weights_only`` globals and :data:`MMENGINE_CHECKPOINT_GLOBALS`: the
"restricting globals" of Python's pickle docs, with the same allow-list.
"""
import _compat_pickle
import pickle
import types

import numpy as np
import torch

__all__ = [
    'AllowListUnpickler', 'MMENGINE_CHECKPOINT_GLOBALS', 'load_weights_only',
    'patch_checkpoint_loading'
]

#: numpy dtypes MMEngine 0.10.7 checkpoints hold: ``HistoryBuffer`` keeps
#: float64 values and int64 counts; metrics (e.g. mmseg's mIoU, kept as
#: ``best_score``) are float32 scalars.
NUMPY_DTYPES = ('float32', 'float64', 'int64')


def _numpy_dtype(*args):
    """``numpy.dtype`` for the :data:`NUMPY_DTYPES` only.

    A pickled array or scalar rebuilds its dtype with ``numpy.dtype('f8',
    False, True)``. Any other dtype, above all ``object`` (``'O8'``), is
    refused.
    """
    dtype = np.dtype(*args)
    if dtype.name not in NUMPY_DTYPES:
        raise pickle.UnpicklingError(
            f'checkpoint asks for the numpy dtype {dtype.name!r}; only '
            f'{", ".join(NUMPY_DTYPES)} are allowed under weights_only=True')
    return dtype


def _numpy_globals() -> list:
    """Numpy objects that pickled arrays and scalars refer to."""
    multiarray = np._core.multiarray if hasattr(np, '_core') else \
        np.core.multiarray
    objs = [
        np.ndarray,
        (_numpy_dtype, 'numpy.dtype'),
        multiarray._reconstruct,
        multiarray.scalar,
    ]
    if multiarray.__name__ != 'numpy.core.multiarray':
        # numpy<2 wrote the same functions as numpy.core.multiarray.*
        objs += [(multiarray._reconstruct,
                  'numpy.core.multiarray._reconstruct'),
                 (multiarray.scalar, 'numpy.core.multiarray.scalar')]
    # Unpickling sets a dtype's state (byte order): torch allows that on
    # instances of allowed classes only, i.e. ``numpy.dtypes.Float64DType``.
    for name in NUMPY_DTYPES:
        dtype_cls = type(np.dtype(name))
        objs.append((dtype_cls, f'numpy.dtypes.{dtype_cls.__name__}'))
    return objs


def _history_buffer_getattr(obj, name: str):
    """The one ``getattr`` call MMEngine's checkpoints need.

    ``HistoryBuffer.__getstate__`` pickles its statistics methods, e.g.
    ``HistoryBuffer.min``, which pickle writes as ``getattr(HistoryBuffer,
    'min')``. Allowing the real ``getattr`` would let a checkpoint reach any
    attribute of any allowed object, so only this lookup is allowed.
    """
    from mmengine.logging.history_buffer import HistoryBuffer
    # the defaults are registered when the first buffer is created
    allowed = {'min', 'max', 'current', 'mean'}
    allowed.update(HistoryBuffer._statistics_methods)
    if obj is not HistoryBuffer or name not in allowed:
        raise pickle.UnpicklingError(
            f'checkpoint asks for getattr({obj!r}, {name!r}); only the '
            'statistics methods of mmengine.logging.HistoryBuffer are '
            'allowed under weights_only=True')
    return getattr(HistoryBuffer, name)


def _mmengine_globals() -> list:
    from mmengine.logging.history_buffer import HistoryBuffer
    return [
        HistoryBuffer,
        (_history_buffer_getattr, 'builtins.getattr'),
    ]


MMENGINE_CHECKPOINT_GLOBALS = tuple(_numpy_globals() + _mmengine_globals())


def _patch_url_loading() -> None:
    """Load MMEngine's ``http(s)://`` checkpoints with ``weights_only``."""
    import mmengine.runner.checkpoint as mmengine_checkpoint

    from .checkpoint import URL_PREFIXES, load_from_http_safely
    mmengine_checkpoint.CheckpointLoader.register_scheme(
        prefixes=URL_PREFIXES, loader=load_from_http_safely, force=True)
    # torchvision://, open-mmlab:// and mmcls:// resolve a name to a URL and
    # call this module function directly, not through the scheme table.
    mmengine_checkpoint.load_from_http = load_from_http_safely


def _allowed_globals() -> dict:
    """``{'module.name': object}`` of what a checkpoint may refer to:
    torch's own ``weights_only`` globals and mmkd's."""
    from torch import _weights_only_unpickler
    allowed = dict(_weights_only_unpickler._get_allowed_globals())
    for obj in MMENGINE_CHECKPOINT_GLOBALS:
        if isinstance(obj, tuple):
            obj, name = obj
        else:
            name = f'{obj.__module__}.{obj.__qualname__}'
        allowed[name] = obj
    return allowed


class AllowListUnpickler(pickle.Unpickler):
    """A pickle unpickler that resolves only allow-listed globals
    (:func:`_allowed_globals`): nothing else can be imported or called, so
    a file cannot run code. For torch without ``add_safe_globals``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._allowed = _allowed_globals()

    def find_class(self, module: str, name: str):
        # protocol 2 (torch.save's) names builtins by their Python 2
        # modules, e.g. ``__builtin__.getattr``: map them as pickle does
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        full_name = f'{module}.{name}'
        if full_name not in self._allowed:
            # worded as torch words it: mmkd.utils.checkpoint names the
            # refused global from this message
            raise pickle.UnpicklingError(
                f'Unsupported global: GLOBAL {full_name} was not an allowed '
                'global')
        return self._allowed[full_name]


def _allow_list_pickle_module() -> types.ModuleType:
    """A module to give ``torch.load`` as ``pickle_module``: torch
    subclasses its ``Unpickler`` and calls its ``load`` (legacy format)."""

    def load(file, **kwargs):
        return AllowListUnpickler(file, **kwargs).load()

    module = types.ModuleType('mmkd_allow_list_pickle')
    module.Unpickler = AllowListUnpickler
    module.load = load
    return module


def load_weights_only(f, map_location=None, legacy: bool = None, **kwargs):
    """``torch.load(f, weights_only=True)`` with mmkd's allow-list, on any
    torch from 1.13.

    With ``torch.serialization.add_safe_globals`` (torch>=2.4), which
    :func:`patch_checkpoint_loading` has filled, this is torch's own
    ``weights_only`` loading; before, the file is unpickled by
    :class:`AllowListUnpickler`.

    Args:
        f: A path or file object, as for :func:`torch.load`.
        map_location: Same as :func:`torch.load`.
        legacy (bool, optional): Force (True) or avoid (False) the path for
            torch<2.4; by default chosen by the torch version.
        **kwargs: More :func:`torch.load` arguments, e.g. ``mmap``.

    Returns:
        The loaded object.

    Raises:
        pickle.UnpicklingError: The file refers to a global outside the
            allow-list, or a guard of this module refused it.
    """
    if legacy is None:
        legacy = not hasattr(torch.serialization, 'add_safe_globals')
    if not legacy:
        return torch.load(
            f, map_location=map_location, weights_only=True, **kwargs)
    return torch.load(
        f,
        map_location=map_location,
        pickle_module=_allow_list_pickle_module(),
        weights_only=False,
        **kwargs)


def patch_checkpoint_loading() -> None:
    """Allow the types MMEngine stores in checkpoints under ``weights_only``
    and make MMEngine load URLs with ``weights_only=True``.

    Safe to call several times. On torch versions without
    ``torch.serialization.add_safe_globals`` (before 2.4) torch's allow-list
    is left alone: mmkd's loads use :func:`load_weights_only` there, which
    applies the allow-list itself.
    """
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is not None:
        add_safe_globals(list(MMENGINE_CHECKPOINT_GLOBALS))
    _patch_url_loading()
