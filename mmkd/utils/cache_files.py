# Copyright (c) mmkd contributors. All rights reserved.
"""The file layout shared by mmkd's caches (the teacher tap cache of
:mod:`mmkd.models.distillers.teacher_cache` and the record cache of
:mod:`mmkd.utils.record_cache`).

A cache folder holds ``meta.json`` (the index and what the entries were
computed from) and one folder of entry files per build,
``entries-<id>/``. A build writes its entries into a new folder and then
swaps ``meta.json`` atomically (:func:`commit_meta`): until then the
previous build stays complete and in use, and an interrupted build leaves
it so. Each entry's size and hash are recorded and checked when the cache
opens (:func:`verify_entry_file`).
"""
import hashlib
import io
import json
import os
import os.path as osp
import re
import shutil
import uuid
from typing import Callable, List, Optional

import torch

#: prefix of the folder of a build's entry files, ``entries-<id>``; the
#: metadata names the folder of the complete build it describes
ENTRY_DIR = 'entries'
META_FILE = 'meta.json'
VERIFY_MODES = ('size', 'hash')


def new_entry_dir() -> str:
    """A fresh name for a build's entry folder."""
    return f'{ENTRY_DIR}-{uuid.uuid4().hex[:12]}'


def entry_file_name(index: int, ext: str = 'pth') -> str:
    return f'{index:07d}.{ext}'


def is_own_file(root: str, name: str) -> bool:
    """Written by a cache build, complete or interrupted: an entry folder
    holding entry files only, or a metadata file being written."""
    path = osp.join(root, name)
    if re.fullmatch(rf'{META_FILE}\.tmp-\d+', name):
        return osp.isfile(path)
    if not re.fullmatch(rf'{ENTRY_DIR}(-[0-9a-f]{{12}})?', name) or \
            not osp.isdir(path):
        return False
    return all(
        re.fullmatch(r'\d{7}\.(pth|bin)', n) for n in os.listdir(path))


def read_json(path: str) -> Optional[dict]:
    """A JSON object, or None for a file that is not one."""
    try:
        with open(path) as f:
            value = json.load(f)
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def check_target(root: str, what: str,
                 is_cache: Callable[[dict], bool]) -> None:
    """Refuse to build a cache into a folder that holds something else.

    A new folder, an empty one, what an interrupted build left, or a cache
    whose metadata ``is_cache`` accepts (which a build replaces) are
    accepted.

    Args:
        root (str): The cache folder.
        what (str): The kind of cache, for messages, e.g. 'teacher cache'.
        is_cache (Callable): Whether a ``meta.json`` is of this kind.

    Raises:
        ValueError: Naming the folder and what it holds.
    """
    if not osp.exists(root):
        return
    if not osp.isdir(root):
        raise ValueError(f'{what} folder {root!r} is not a folder')
    names = sorted(os.listdir(root))
    if all(is_own_file(root, n) for n in names):
        return
    if META_FILE in names:
        meta = read_json(osp.join(root, META_FILE))
        if meta is not None and is_cache(meta):
            return
    shown = ', '.join(
        names[:5]) + (f' and {len(names) - 5} more' if len(names) > 5 else '')
    raise ValueError(
        f'{what} folder {root!r} is not empty and not an mmkd {what} (it '
        f'holds {shown}); refusing to write into it: choose a new or empty '
        'folder')


def file_identity(path: str) -> List[int]:
    """Size and modification time: a regenerated file changes either."""
    stat = os.stat(path)
    return [stat.st_size, stat.st_mtime_ns]


def hash_file(path: str) -> str:
    """blake2b (16 bytes) of a file's bytes, read in blocks."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def write_file(path: str, data: bytes) -> dict:
    """Write an entry's bytes to ``path``.

    Returns:
        dict: ``bytes`` and ``blake2b`` of the file, for the index.
    """
    with open(path, 'wb') as f:
        f.write(data)
    return dict(
        bytes=len(data),
        blake2b=hashlib.blake2b(data, digest_size=16).hexdigest())


def write_entry(path: str, entry) -> dict:
    """``torch.save`` an entry to ``path``; see :func:`write_file`."""
    buffer = io.BytesIO()
    torch.save(entry, buffer)
    return write_file(path, buffer.getvalue())


#: ``meta.json`` fields that say where and when a build was written, not
#: what it holds
WRITTEN_FIELDS = ('entry_dir', 'path', 'mtime_ns')


def content_digest(meta: dict) -> str:
    """SHA-256 of what a cache holds: its metadata (entry sizes and hashes,
    fingerprint, the input files' sizes and hashes, ...) without where and
    when its build was written (:data:`WRITTEN_FIELDS`: the entry folder's
    random name, input files' paths and modification times). Two builds of
    the same entries from the same inputs, anywhere, have the same digest.
    """

    def content(value):
        if isinstance(value, dict):
            return {
                k: content(v)
                for k, v in value.items() if k not in WRITTEN_FIELDS
            }
        if isinstance(value, list):
            return [content(v) for v in value]
        return value

    text = json.dumps(content(meta), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def commit_meta(root: str, meta: dict, entry_dir: str) -> None:
    """Write ``meta.json``, which makes the build in ``entry_dir`` the
    cache, and remove the entry folders of earlier builds (the folder's
    other files are left alone)."""
    os.makedirs(osp.join(root, entry_dir), exist_ok=True)
    # written aside and swapped in: a reader sees the old metadata or the
    # new, never part of one
    tmp_file = osp.join(root, f'{META_FILE}.tmp-{os.getpid()}')
    with open(tmp_file, 'w') as f:
        json.dump(meta, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp_file, osp.join(root, META_FILE))
    for name in os.listdir(root):
        if name != entry_dir and is_own_file(root, name):
            path = osp.join(root, name)
            if osp.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.remove(path)


def check_verify_mode(verify: str) -> None:
    if verify not in VERIFY_MODES:
        raise ValueError(f"verify must be 'size' or 'hash', got {verify!r}")


def verify_entry_file(path: str, record: dict, verify: str, where: str,
                      rebuild: str) -> None:
    """Check an entry file against its index record.

    Args:
        path (str): The entry file.
        record (dict): Its index record, with ``bytes`` and ``blake2b``.
        verify (str): ``'size'`` stats the file; ``'hash'`` also hashes it.
        where (str): The cache and sample, for messages, e.g.
            ``"teacher_cache '/c': the entry of sample 'a.png'"``.
        rebuild (str): How to rebuild, for messages.

    Raises:
        FileNotFoundError: For a missing file.
        ValueError: For a truncated or rewritten one.
    """
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        raise FileNotFoundError(
            f'{where}, {path}, is missing; {rebuild}') from None
    if size != record['bytes']:
        raise ValueError(
            f'{where}, {path}, has {size} bytes, {record["bytes"]} when '
            f'written: truncated or rewritten; {rebuild}')
    if verify == 'hash' and hash_file(path) != record['blake2b']:
        raise ValueError(
            f'{where}, {path}, was rewritten since it was written (its '
            f'blake2b hash differs); {rebuild}')


def discard_build(root: str, entry_dir: str) -> None:
    """Remove the entries of a build that did not complete."""
    shutil.rmtree(osp.join(root, entry_dir), ignore_errors=True)
