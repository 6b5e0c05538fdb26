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
"""
import pickle

import numpy as np
import torch

__all__ = ['MMENGINE_CHECKPOINT_GLOBALS', 'patch_checkpoint_loading']

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


def patch_checkpoint_loading() -> None:
    """Allow the types MMEngine stores in checkpoints under ``weights_only``
    and make MMEngine load URLs with ``weights_only=True``.

    Safe to call several times. The allow-list is left alone on torch
    versions without ``torch.serialization.add_safe_globals`` (before 2.4);
    there, checkpoints holding numpy objects do not load with
    ``weights_only=True``.
    """
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is not None:
        add_safe_globals(list(MMENGINE_CHECKPOINT_GLOBALS))
    _patch_url_loading()
