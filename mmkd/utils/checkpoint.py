# Copyright (c) mmkd contributors. All rights reserved.
"""Checkpoint loading that never unpickles arbitrary objects.

Every checkpoint mmkd reads from a user path or URL goes through
:func:`load_checkpoint`, which loads with ``weights_only=True`` explicitly,
whatever the torch version's default, on local files and on ``http(s)://``
downloads alike (on torch<2.4, with the same allow-list applied by
:func:`mmkd.utils.compat.load_weights_only`). Files torch cannot load are
reported with the config key they came from and what is wrong with them;
the message never suggests ``weights_only=False``, which would let the
file run code.
"""
import os
import os.path as osp
import pickle
import re
from urllib.parse import urlparse

import torch

from .compat import load_weights_only

__all__ = ['load_checkpoint', 'load_from_http_safely', 'torch_load_safely']

URL_PREFIXES = ('http://', 'https://')


def _torch_reason(error: Exception) -> str:
    """The part of torch's error that says what is wrong with the file,
    without its advice to load with ``weights_only=False``."""
    text = str(error)
    detail = re.search(r'WeightsUnpickler error:\s*(.+)', text)
    if detail:
        text = detail.group(1)
    elif text.startswith('Weights only load failed'):
        # torch 2.6+ puts the cause after its advice, on its own line
        lines = [line for line in text.splitlines()[1:] if line.strip()]
        text = lines[0] if lines else ''
    text = text.strip().split('. ')[0]
    return text or type(error).__name__


def torch_load_safely(path: str, map_location=None, what: str = None):
    """``torch.load(path, weights_only=True)`` with mmkd's allow-list
    (:func:`mmkd.utils.compat.load_weights_only`) and a clear error.

    Args:
        path (str): A local file.
        map_location: Same as :func:`torch.load`.
        what (str, optional): How to name the file in errors, e.g.
            ``"teacher_ckpt 'http://host/teacher.pth'"``. Defaults to
            ``repr(path)``.

    Returns:
        The loaded object.

    Raises:
        pickle.UnpicklingError: The file refers to a global outside the
            ``weights_only`` allow-list (named), or it is truncated, corrupt
            or no torch checkpoint at all.
    """
    what = what or repr(path)
    try:
        return load_weights_only(path, map_location=map_location)
    except OSError:
        raise  # a missing or unreadable file, not a bad one
    except Exception as error:  # what a bad file raises depends on its bytes
        reason = _torch_reason(error)
        refused = re.search(r'GLOBAL ([\w.]+)', str(error))
        if refused:
            message = (
                f'{what} holds {refused.group(1)}, a global outside the '
                'allow-list of weights_only=True loading (tensors, '
                'containers, float32, float64 and int64 numpy arrays, '
                "MMEngine's log buffers, see mmkd/utils/compat.py). mmkd "
                'does not unpickle '
                'it: such an object may run code when loaded. Save the '
                'state_dict alone, or a checkpoint written by an MMEngine '
                'Runner.')
        elif 'unrecognized function' in reason or \
                reason.startswith('Can only') or \
                'allowed under weights_only' in reason:
            # refused by torch's unpickler or by a guard of compat.py
            message = (f'{what} asks for something outside the allow-list '
                       f'of weights_only=True loading ({reason}); mmkd does '
                       'not unpickle it.')
        else:
            message = (f'{what} could not be loaded: it is truncated or '
                       'corrupt, or not a torch checkpoint at all '
                       f'(torch: {reason}). Download or copy it again.')
        raise pickle.UnpicklingError(message) from None


def _download(url: str, model_dir: str = None, progress: bool = True) -> str:
    """Download ``url`` into the torch hub cache unless it is there, as
    ``torch.hub.load_state_dict_from_url`` does; return the local path."""
    if model_dir is None:
        model_dir = osp.join(torch.hub.get_dir(), 'checkpoints')
    os.makedirs(model_dir, exist_ok=True)
    cached_file = osp.join(model_dir, osp.basename(urlparse(url).path))
    if not osp.exists(cached_file):
        # writes to a temporary file first, so no partial file is cached
        torch.hub.download_url_to_file(url, cached_file, progress=progress)
    return cached_file


def load_from_http_safely(filename: str,
                          map_location=None,
                          model_dir: str = None,
                          progress: bool = False,
                          what: str = None):
    """MMEngine's ``load_from_http`` with ``weights_only=True``.

    MMEngine 0.10.7 loads URLs with ``torch.hub.load_state_dict_from_url``,
    whose ``weights_only`` defaults to ``False``. This downloads to the same
    cache (``<torch hub dir>/checkpoints``), rank 0 first in distributed
    runs, and loads with :func:`torch_load_safely`.

    Args:
        filename (str): The ``http://`` or ``https://`` URL.
        map_location: Same as :func:`torch.load`.
        model_dir (str, optional): Download directory. Defaults to the torch
            hub cache.
        progress (bool): Show a download progress bar. Defaults to False.
        what (str, optional): How to name the file in errors. Defaults to
            ``"checkpoint '<filename>'"``.

    Returns:
        The loaded checkpoint.
    """
    from mmengine.dist import barrier, get_dist_info
    rank, world_size = get_dist_info()
    if rank == 0:
        path = _download(filename, model_dir, progress)
    if world_size > 1:
        barrier()
        if rank > 0:
            path = _download(filename, model_dir, progress)
    return torch_load_safely(path, map_location,
                             what or f'checkpoint {filename!r}')


def load_checkpoint(filename: str, map_location=None, key: str = None):
    """Load a local or ``http(s)://`` checkpoint with ``weights_only=True``.

    Other schemes (``s3://``, ``open-mmlab://``, ...) are passed to MMEngine's
    ``CheckpointLoader``.

    Args:
        filename (str): Local path or URL.
        map_location: Same as :func:`torch.load`.
        key (str, optional): The config key the file was given as, e.g.
            ``'teacher_ckpt'``, to name it in errors.

    Returns:
        The loaded checkpoint.
    """
    what = f'{key} {filename!r}' if key else repr(filename)
    if filename.startswith(URL_PREFIXES):
        return load_from_http_safely(filename, map_location, what=what)
    if '://' in filename:
        from mmengine.runner import CheckpointLoader
        return CheckpointLoader.load_checkpoint(filename, map_location)
    path = osp.expanduser(filename)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} does not exist')
    return torch_load_safely(path, map_location, what)
