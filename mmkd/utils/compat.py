# Copyright (c) mmkd contributors. All rights reserved.
"""Compatibility of the pinned OpenMMLab stack with recent PyTorch.

torch>=2.6 loads checkpoints with ``weights_only=True`` by default. MMEngine
0.10.7 writes numpy arrays and scalars (seeds, dataset palettes) and its
``HistoryBuffer`` log buffers into ``meta`` and ``message_hub``, so it can no
longer load its own checkpoints (``UnpicklingError: Weights only load
failed``). Instead of turning ``weights_only`` off, which would let any pickle
run code, the few types MMEngine writes are added to torch's allow-list.
"""
import pickle

import numpy as np
import torch

__all__ = ['MMENGINE_CHECKPOINT_GLOBALS', 'patch_checkpoint_loading']


def _numpy_globals() -> list:
    """Numpy objects that pickled arrays, scalars and dtypes refer to."""
    multiarray = getattr(np, '_core', None) or np.core
    objs = [
        np.ndarray,
        np.dtype,
        multiarray.multiarray._reconstruct,
        multiarray.multiarray.scalar,
    ]
    # numpy>=1.25 pickles a dtype by its class, e.g. ``Float64DType``.
    for name in ('bool_', 'int8', 'int16', 'int32', 'int64', 'uint8',
                 'uint16', 'uint32', 'uint64', 'float16', 'float32',
                 'float64', 'complex64', 'complex128', 'str_', 'bytes_',
                 'object_'):
        dtype_cls = type(np.dtype(getattr(np, name)))
        if dtype_cls is not np.dtype:
            objs.append(dtype_cls)
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


def patch_checkpoint_loading() -> None:
    """Allow the types MMEngine stores in checkpoints under ``weights_only``.

    Safe to call several times. A no-op on torch versions without
    ``torch.serialization.add_safe_globals`` (before 2.4), which do not
    default to ``weights_only=True`` either.
    """
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:
        return
    add_safe_globals(list(MMENGINE_CHECKPOINT_GLOBALS))
