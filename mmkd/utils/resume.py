# Copyright (c) mmkd contributors. All rights reserved.
"""Which checkpoint ``tools/train.py --resume`` loads.

A run killed while writing a checkpoint leaves it truncated, and MMEngine
then fails to resume with a bare ``PytorchStreamReader failed reading zip
archive``. The checkpoint is checked here first: the latest one of the work
dir falls back to the one before it, with a warning; a checkpoint the user
named is not replaced.
"""
import logging
import os
import os.path as osp
import re
from typing import List, Optional

from mmengine.logging import print_log

from .compat import load_weights_only

__all__ = ['checkpoint_error', 'resolve_resume_checkpoint']

_NUMBERED = re.compile(r'^(epoch|iter)_(\d+)\.pth$')


def checkpoint_error(path: str) -> Optional[str]:
    """Why ``path`` cannot be loaded, or None when it can.

    The tensors are memory-mapped, not read, so this costs little more than
    the unpickling of the checkpoint's structure, with mmkd's allow-list
    (:func:`mmkd.utils.compat.load_weights_only`).
    """
    if not osp.isfile(path):
        return 'no such file'
    try:
        try:
            load_weights_only(path, map_location='cpu', mmap=True)
        except RuntimeError as e:
            if 'mmap' not in str(e):
                raise
            # written in torch's legacy format, which cannot be mapped
            load_weights_only(path, map_location='cpu')
    except Exception as e:  # noqa: BLE001 (any failure makes it unusable)
        first_line = str(e).strip().splitlines()[0] if str(e) else ''
        return f'{type(e).__name__}: {first_line}'
    return None


def _earlier_checkpoints(folder: str, latest: str) -> List[str]:
    """The numbered checkpoints of ``folder`` before ``latest``, newest
    first (all of them when ``latest`` is not numbered)."""
    match = _NUMBERED.match(osp.basename(latest))
    found = []
    for name in os.listdir(folder):
        other = _NUMBERED.match(name)
        if other is None or osp.abspath(osp.join(
                folder, name)) == osp.abspath(latest):
            continue
        if match is not None and (other.group(1) != match.group(1) or int(
                other.group(2)) >= int(match.group(2))):
            # another kind, or newer than the latest (left by an earlier
            # run in this work dir)
            continue
        found.append((int(other.group(2)), osp.join(folder, name)))
    return [path for _, path in sorted(found, reverse=True)]


def resolve_resume_checkpoint(work_dir: str,
                              path: Optional[str] = None) -> Optional[str]:
    """The checkpoint to resume from.

    Args:
        work_dir (str): The run's work dir; its ``last_checkpoint`` file
            (written by MMEngine's CheckpointHook) names the latest
            checkpoint.
        path (str, optional): A checkpoint the user chose. Defaults to
            None: the latest loadable one of ``work_dir``.

    Returns:
        str or None: The checkpoint; None when ``work_dir`` has no
        ``last_checkpoint`` (MMEngine then trains from scratch).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        RuntimeError: ``path`` cannot be loaded, or neither can the latest
            checkpoint of ``work_dir`` nor any before it.
    """
    if path is not None:
        if '://' in path:  # a URL or a remote backend: MMEngine's to load
            return path
        if not osp.isfile(path):
            raise FileNotFoundError(f'--resume {path}: no such file')
        error = checkpoint_error(path)
        if error is not None:
            raise RuntimeError(
                f'--resume {path}: this checkpoint cannot be loaded '
                f'({error}); a run killed while saving leaves it truncated. '
                'Name another checkpoint, or give --resume alone to resume '
                'from the latest loadable one of the work_dir.')
        return path

    last_file = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(last_file):
        return None
    with open(last_file) as f:
        latest = f.read().strip()
    # the CheckpointHook's out_dir may be elsewhere than the work dir
    folder = osp.dirname(latest) if latest else work_dir
    candidates = ([latest] if latest else []) + _earlier_checkpoints(
        folder or '.', latest)
    failures = []
    for candidate in candidates:
        error = checkpoint_error(candidate)
        if error is None:
            if failures:
                print_log(
                    f'--resume: {"; ".join(failures)} (a run killed while '
                    f'saving leaves it truncated); resuming from '
                    f'{candidate} instead',
                    logger='current',
                    level=logging.WARNING)
            return candidate
        failures.append(f'{candidate} cannot be loaded ({error})')
    if not failures:
        failures.append(f'{last_file} is empty')
    raise RuntimeError(
        f'--resume: {"; ".join(failures)}, and there is no earlier '
        'checkpoint to fall back to. Delete the broken checkpoint and '
        f'{last_file} to train from scratch, or name a checkpoint with '
        '--resume PATH.')
