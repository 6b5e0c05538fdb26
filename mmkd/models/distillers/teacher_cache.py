# Copyright (c) mmkd contributors. All rights reserved.
"""Teacher outputs computed once and read back instead of running the
teacher (``tools/cache_teacher.py`` writes them).

These are fixed-shape taps per sample and flip; a variable number of
records per sample (boxes and their embeddings), keyed independently of
augmentation and readable by data transforms, is the record cache of
:mod:`mmkd.utils.record_cache`. Both share :mod:`mmkd.utils.cache_files`.
"""
import hashlib
import json
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from torch import Tensor

from mmkd.utils.cache_files import (META_FILE, check_target,
                                    check_verify_mode, commit_meta,
                                    discard_build, entry_file_name,
                                    file_identity, new_entry_dir,
                                    verify_entry_file, write_entry)

#: transforms whose output a cache entry can be keyed by: deterministic
#: given the sample, or random only through a flag stored in the metainfo
KEYABLE_TRANSFORMS = {
    'LoadImageFromFile', 'LoadAnnotations', 'LoadPointsFromFile',
    'LoadAnnotations3D', 'PackSegInputs', 'PackDetInputs', 'PackDet3DInputs',
    'Resize', 'RandomFlip', 'CheckSegLabels'
}

#: 2: entry sizes and hashes, input files, scale factors and the pipeline
#: recorded; version 1 caches recorded none of them and are refused
FORMAT_VERSION = 2


def check_cacheable_pipeline(pipeline: List[dict]) -> None:
    """Refuse a training pipeline the cache cannot key.

    A random crop, photometric distortion or random resize gives the
    student inputs the cached teacher never saw; only deterministic
    transforms and ``RandomFlip`` (keyed by its ``flip`` flag) are allowed.

    Raises:
        ValueError: Naming the first transform that cannot be keyed.
    """
    for transform in pipeline:
        name = str(transform.get('type', '')).split('.')[-1]
        keyable = name in KEYABLE_TRANSFORMS
        if name == 'Resize' and (transform.get('scale') is None
                                 or 'ratio_range' in transform):
            keyable = False
        if not keyable:
            raise ValueError(
                f'the training pipeline has {name}, which a teacher cache '
                'cannot key (the teacher would have seen other inputs than '
                'the student); remove it or train without teacher_cache. '
                f'Keyable: {", ".join(sorted(KEYABLE_TRANSFORMS))}')


def cache_pipeline(pipeline: List[dict]) -> List[dict]:
    """The training pipeline as a cache records it: plain JSON, with
    ``RandomFlip``'s ``prob`` left out (flips are keyed per entry, and the
    cache holds both flip states).

    Args:
        pipeline (list[dict]): ``train_dataloader.dataset.pipeline``.

    Returns:
        list[dict]: What a cache is compared against.
    """
    pipeline = json.loads(json.dumps(list(pipeline), default=str))
    for transform in pipeline:
        if _transform_name(transform) == 'RandomFlip':
            transform.pop('prob', None)
    return pipeline


def _transform_name(transform: dict) -> str:
    return str(transform.get('type', '')).split('.')[-1]


def _pipeline_difference(cached: List[dict],
                         current: List[dict]) -> Optional[str]:
    """How ``current`` differs from ``cached``, naming the transform; None
    when they are equal."""
    for i, (old, new) in enumerate(zip(cached, current)):
        if old == new:
            continue
        if current[:i] + current[i + 1:] == cached:
            return (f'the config adds {_transform_name(new)} (transform '
                    f'{i}) before {_transform_name(old)}')
        if cached[:i] + cached[i + 1:] == current:
            return (f'the config drops {_transform_name(old)} (transform '
                    f'{i})')
        if _transform_name(old) != _transform_name(new):
            return (f'transform {i} is {_transform_name(new)} in the config, '
                    f'{_transform_name(old)} in the cache')
        diffs = [
            f'{k}={new.get(k)!r} in the config, {old.get(k)!r} in the cache'
            for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)
        ]
        return (f'{_transform_name(new)} (transform {i}) differs: '
                f'{"; ".join(diffs)}')
    if len(current) > len(cached):
        return (f'the config adds {_transform_name(current[len(cached)])} '
                f'(transform {len(cached)})')
    if len(cached) > len(current):
        return (f'the config drops {_transform_name(cached[len(current)])} '
                f'(transform {len(current)})')
    return None


def _check_pipeline(cache_dir: str, meta: dict, pipeline: List[dict]) -> None:
    cached = meta.get('pipeline')
    if cached is None:
        raise ValueError(
            f'teacher_cache {cache_dir!r} records no training pipeline, so '
            'it cannot be checked against this config; rebuild it with '
            'tools/cache_teacher.py')
    difference = _pipeline_difference(cached, cache_pipeline(pipeline))
    if difference is not None:
        raise ValueError(
            f'teacher_cache {cache_dir!r} was built with another training '
            f'pipeline: {difference}; the cached teacher outputs are for '
            'other inputs: rebuild it with tools/cache_teacher.py')


def check_cache_pipeline(cache_dir: str, pipeline: List[dict]) -> None:
    """Refuse a cache built with another training pipeline (transforms and
    their arguments; ``RandomFlip``'s ``prob`` aside).

    Raises:
        ValueError: Naming the cache folder and the differing transform.
    """
    _check_pipeline(cache_dir, _read_meta(cache_dir), pipeline)


def check_cache_target(root: str) -> None:
    """Refuse to build a cache into a folder that holds something else.

    A new folder, an empty one, or a teacher cache (which a build
    replaces) are accepted.

    Raises:
        ValueError: Naming the folder and what it holds.
    """
    check_target(root, 'teacher cache', _is_tap_cache)


def _is_tap_cache(meta: dict) -> bool:
    return meta.get('kind') is None and {'fingerprint', 'index'} <= set(meta)


def _input_files(metainfo: dict) -> List[Tuple[str, str]]:
    """``(metainfo key, path)`` of a sample's files that exist, e.g.
    ``img_path``, ``seg_map_path``, ``lidar_path``; a list of paths gives
    ``img_path[0]``, ..."""
    files = []
    for name in sorted(metainfo):
        value = metainfo[name]
        if not name.endswith('_path'):
            continue
        if isinstance(value, str):
            files.append((name, value))
        elif isinstance(value, (list, tuple)):
            files += [(f'{name}[{i}]', v) for i, v in enumerate(value)
                      if isinstance(v, str)]
    return [(name, path) for name, path in files if osp.isfile(path)]


def _scale_factor(metainfo: dict) -> Optional[List[float]]:
    """The resize a sample went through; None without a ``Resize``."""
    value = metainfo.get('scale_factor')
    if value is None:
        return None
    return [round(float(v), 6) for v in np.asarray(value).reshape(-1)]


def _changed_input(cache_dir: str, key: str, path: str, recorded: List[int],
                   current: List[int]) -> ValueError:
    return ValueError(
        f'teacher_cache {cache_dir!r}: input file {path} of sample {key!r} '
        'changed since the cache was built (size, mtime_ns '
        f'{recorded[0]}, {recorded[1]} then, {current[0]}, {current[1]} '
        'now); its entry holds the teacher\'s outputs for the old file: '
        'rebuild the cache with tools/cache_teacher.py')


def _read_meta(cache_dir: str) -> dict:
    meta_file = osp.join(cache_dir, META_FILE)
    if not osp.isfile(meta_file):
        raise FileNotFoundError(
            f'teacher_cache {cache_dir!r} has no {META_FILE}; build it '
            'with tools/cache_teacher.py')
    with open(meta_file) as f:
        meta = json.load(f)
    if meta.get('kind') is not None:
        raise ValueError(
            f'teacher_cache {cache_dir!r} is a {meta["kind"]} cache, not a '
            'cache of teacher taps (tools/cache_teacher.py writes those)')
    if meta.get('version') != FORMAT_VERSION:
        raise ValueError(
            f'teacher_cache {cache_dir!r} has an older format (version '
            f'{meta.get("version", 1)}, this mmkd reads {FORMAT_VERSION}: '
            'it records no entry sizes nor input files, so it cannot be '
            'checked); rebuild it with tools/cache_teacher.py')
    return meta


def sample_key(data_sample) -> str:
    """Key of one sample: its file and the flip the pipeline applied."""
    meta = data_sample.metainfo
    path = meta.get('img_path') or meta.get('lidar_path')
    if path is None:
        raise KeyError('a teacher cache needs img_path or lidar_path in the '
                       f'data sample metainfo; got keys {sorted(meta)}')
    flip = meta.get('flip', False)
    direction = meta.get('flip_direction') if flip else None
    name = osp.join(osp.basename(osp.dirname(path)), osp.basename(path))
    return f'{name}|flip={bool(flip)}|{direction}'


def teacher_fingerprint(teacher_cfg: dict, teacher_ckpt: str,
                        teacher_taps: dict,
                        teacher_dtype: Optional[str]) -> str:
    """sha256 of what determines the cached outputs: the teacher config,
    the checkpoint's bytes (or its URL), the teacher taps and dtype."""
    digest = hashlib.sha256()
    digest.update(
        json.dumps(dict(teacher_cfg), sort_keys=True, default=str).encode())
    if osp.isfile(teacher_ckpt):
        with open(teacher_ckpt, 'rb') as f:
            for block in iter(lambda: f.read(1 << 20), b''):
                digest.update(block)
    else:
        digest.update(teacher_ckpt.encode())
    digest.update(json.dumps(teacher_taps, sort_keys=True).encode())
    digest.update(str(teacher_dtype).encode())
    return digest.hexdigest()


def encode(value: Any, topk: Optional[int] = None,
           pool: Optional[int] = None) -> Any:
    """Compress one sample's tapped output for storage.

    Tensors are stored in float16. A ``[C, H, W]`` map can be average-pooled
    by ``pool`` (decoded by bilinear upsampling back to ``H x W``) and keep
    only its ``topk`` largest channels per position plus the mean of the
    other channels (decoded by filling those with the mean, which keeps the
    per-position logit sum).

    Args:
        value (Tensor | tuple): One sample's tap, e.g. ``[C, H, W]``.
        topk (int, optional): Channels kept per position.
        pool (int, optional): Average-pooling kernel and stride.

    Returns:
        Tensor | dict | tuple: A float16 tensor, or a dict for a
        compressed map; tuples keep their structure.
    """
    if not isinstance(value, Tensor):
        return tuple(encode(v, topk, pool) for v in value)
    value = value.detach().float().cpu()
    is_map = value.dim() == 3
    if not is_map or (pool in (None, 1) and
                      (topk is None or topk >= value.shape[0])):
        return value.to(torch.float16).clone()
    entry = dict(size=tuple(value.shape[-2:]), channels=value.shape[0])
    if pool not in (None, 1):
        value = F.avg_pool2d(value[None], pool, pool, ceil_mode=True)[0]
    if topk is not None and topk < value.shape[0]:
        top, index = value.topk(topk, dim=0)
        rest = (value.sum(0, keepdim=True) - top.sum(0, keepdim=True)) / (
            value.shape[0] - topk)
        entry.update(
            top=top.to(torch.float16),
            index=index.to(torch.int16),
            rest=rest.to(torch.float16))
    else:
        entry.update(map=value.to(torch.float16))
    return entry


def decode(entry: Any) -> Tensor:
    """Inverse of :func:`encode`, float32."""
    if isinstance(entry, Tensor):
        return entry.float()
    if isinstance(entry, tuple):
        return tuple(decode(e) for e in entry)
    if 'map' in entry:
        value = entry['map'].float()
    else:
        rest = entry['rest'].float()
        value = rest.expand(entry['channels'], *rest.shape[1:]).clone()
        value.scatter_(0, entry['index'].long(), entry['top'].float())
    if tuple(value.shape[-2:]) != tuple(entry['size']):
        value = F.interpolate(
            value[None], entry['size'], mode='bilinear',
            align_corners=False)[0]
    return value


def _nbytes(entry: Any) -> int:
    if isinstance(entry, Tensor):
        return entry.numel() * entry.element_size()
    if isinstance(entry, dict):
        return sum(_nbytes(v) for v in entry.values()
                   if isinstance(v, Tensor))
    return sum(_nbytes(v) for v in entry)


def _stack(values: List[Any], device) -> Any:
    if isinstance(values[0], Tensor):
        return torch.stack(values).to(device=device, dtype=torch.float32)
    return tuple(
        _stack([v[i] for v in values], device)
        for i in range(len(values[0])))


class TeacherCache:
    """Per-sample teacher taps in a folder, one file per sample.

    ``tools/cache_teacher.py`` writes a cache with :meth:`add` and
    :meth:`save`; training opens it with :meth:`load` and reads a batch's
    entries with :meth:`lookup`, so that only the index (not the tapped
    maps) is held in memory.

    A build writes its entries into a new folder ``entries-<id>`` and
    :meth:`save` then replaces ``meta.json`` atomically: until then the
    previous cache stays complete and in use, and an interrupted build
    leaves it so. ``meta.json`` records each entry's size and hash, the
    size and modification time of each sample's input files, its scale
    factor and the training pipeline, all checked before they are used.

    Args:
        fingerprint (str): :func:`teacher_fingerprint` of the teacher that
            produced the entries.
        root (str): The cache folder.
        topk (int, optional): See :func:`encode`.
        pool (int, optional): See :func:`encode`.
        index (dict, optional): Sample key to entry record, for a loaded
            cache.
        nbytes (int): Bytes of the stored tensors, for a loaded cache.
        pipeline (list[dict], optional): The training pipeline the entries
            were computed with; see :func:`cache_pipeline`.
        entry_dir (str, optional): The entry folder of a loaded cache;
            None makes a new one for a build.
    """

    def __init__(self,
                 fingerprint: str,
                 root: str,
                 topk: Optional[int] = None,
                 pool: Optional[int] = None,
                 index: Optional[Dict[str, dict]] = None,
                 nbytes: int = 0,
                 pipeline: Optional[List[dict]] = None,
                 entry_dir: Optional[str] = None) -> None:
        self.fingerprint = fingerprint
        self.root = root
        self.topk = topk
        self.pool = pool
        self.index = dict(index or {})
        self._nbytes = nbytes
        self.pipeline = None if pipeline is None else cache_pipeline(pipeline)
        self.entry_dir = entry_dir or new_entry_dir()
        # samples whose input files and scale factor were checked
        self._checked = set()

    def _path(self, record: dict) -> str:
        return osp.join(self.root, self.entry_dir, record['file'])

    def add(self, feats: Dict[str, Any], data_samples: list) -> None:
        """Encode and write a batch of teacher taps, one file per sample."""
        os.makedirs(osp.join(self.root, self.entry_dir), exist_ok=True)
        for i, sample in enumerate(data_samples):
            key = sample_key(sample)
            entry = {
                name: encode(_row(value, i), self.topk, self.pool)
                for name, value in feats.items()
            }
            old = self.index.get(key)
            record = dict(file=old['file'] if old else entry_file_name(
                len(self.index)))
            record.update(write_entry(self._path(record), entry))
            meta = sample.metainfo
            record.update(
                inputs={
                    name: [path, *file_identity(path)]
                    for name, path in _input_files(meta)
                },
                scale_factor=_scale_factor(meta))
            self.index[key] = record
            self._nbytes += sum(_nbytes(v) for v in entry.values())

    def lookup(self, data_samples: list, device) -> Dict[str, Any]:
        """The batch's teacher taps, decoded to float32 on ``device``.

        A sample is checked against its record the first time it is read:
        its input files (size and modification time) and scale factor must
        be those the entry was computed from.
        """
        rows = []
        for sample in data_samples:
            key = sample_key(sample)
            if key not in self.index:
                raise KeyError(
                    f'teacher cache {self.root!r} has no entry {key!r}: it '
                    'was built for other data or augmentations; rebuild it '
                    'with tools/cache_teacher.py')
            record = self.index[key]
            if key not in self._checked:
                self._check_sample(key, record, sample.metainfo)
                self._checked.add(key)
            entry = torch.load(self._path(record), weights_only=True)
            rows.append({name: decode(v) for name, v in entry.items()})
        return {
            name: _stack([r[name] for r in rows], device)
            for name in rows[0]
        }

    def _check_sample(self, key: str, record: dict, metainfo: dict) -> None:
        # the sample's own paths: the dataset may have moved since
        files = dict(_input_files(metainfo))
        for name, (_, *recorded) in record['inputs'].items():
            if name not in files:
                raise FileNotFoundError(
                    f'teacher_cache {self.root!r}: sample {key!r} has no '
                    f'input file {name} ({metainfo.get(name.split("[")[0])}'
                    ') though it had when the cache was built; rebuild it '
                    'with tools/cache_teacher.py')
            current = file_identity(files[name])
            if current != recorded:
                raise _changed_input(self.root, key, files[name], recorded,
                                     current)
        scale_factor = _scale_factor(metainfo)
        if scale_factor != record['scale_factor']:
            raise ValueError(
                f'teacher_cache {self.root!r}: sample {key!r} has '
                f'scale_factor {scale_factor}, {record["scale_factor"]} when '
                'the cache was built: the training pipeline resizes '
                'otherwise and the cached teacher outputs are for other '
                'inputs; rebuild it with tools/cache_teacher.py')

    def __len__(self) -> int:
        return len(self.index)

    def nbytes(self) -> int:
        """Bytes of the stored tensors."""
        return self._nbytes

    def save(self) -> None:
        """Write the metadata, which makes this build the cache; :meth:`add`
        wrote the entries. The previous build's entries are removed."""
        meta = dict(
            version=FORMAT_VERSION,
            fingerprint=self.fingerprint,
            pipeline=self.pipeline,
            topk=self.topk,
            pool=self.pool,
            entries=len(self.index),
            nbytes=self._nbytes,
            entry_dir=self.entry_dir,
            index=self.index)
        commit_meta(self.root, meta, self.entry_dir)

    def discard(self) -> None:
        """Remove the entries of a build that did not complete."""
        discard_build(self.root, self.entry_dir)

    @classmethod
    def load(cls,
             cache_dir: str,
             fingerprint: str,
             pipeline: Optional[List[dict]] = None,
             verify: str = 'size') -> 'TeacherCache':
        """Open a complete cache of this teacher.

        Args:
            cache_dir (str): The cache folder.
            fingerprint (str): :func:`teacher_fingerprint` of the teacher
                of this config.
            pipeline (list[dict], optional): The training pipeline, checked
                with :func:`check_cache_pipeline`; None checks each sample's
                scale factor when it is first read instead.
            verify (str): ``'size'`` stats each entry file; ``'hash'`` also
                hashes its bytes (reads the whole cache). Defaults to
                ``'size'``.

        Raises:
            FileNotFoundError: Without metadata, or naming a missing entry
                file and its sample.
            ValueError: For another teacher or pipeline, a truncated or
                rewritten entry, or a changed input file, naming them.
        """
        check_verify_mode(verify)
        meta = _read_meta(cache_dir)
        if meta.get('fingerprint') != fingerprint:
            raise ValueError(
                f'teacher_cache {cache_dir!r} was built for another teacher '
                'config, checkpoint, taps or teacher_dtype (fingerprint '
                f'{str(meta.get("fingerprint"))[:12]}, this config '
                f'{fingerprint[:12]}); rebuild it with tools/cache_teacher.py')
        if pipeline is not None:
            _check_pipeline(cache_dir, meta, pipeline)
        index = meta['index']
        if meta['entries'] != len(index):
            raise ValueError(
                f'teacher_cache {cache_dir!r} records {meta["entries"]} '
                f'entries but its index lists {len(index)}; rebuild it with '
                'tools/cache_teacher.py')
        cache = cls(fingerprint, cache_dir, meta['topk'], meta['pool'], index,
                    meta['nbytes'], meta['pipeline'], meta['entry_dir'])
        for key, record in index.items():
            cache._verify_entry(key, record, verify)
        print_log(
            f'teacher cache {cache_dir}: {len(cache)} samples, '
            f'{cache.nbytes() / 2**20:.1f} MiB (topk={cache.topk}, '
            f'pool={cache.pool})',
            logger='current')
        return cache

    def _verify_entry(self, key: str, record: dict, verify: str) -> None:
        verify_entry_file(
            self._path(record), record, verify,
            f'teacher_cache {self.root!r}: the entry of sample {key!r}',
            'rebuild it with tools/cache_teacher.py')
        for path, *recorded in record['inputs'].values():
            # a path that is gone is checked through the sample's own path
            # when it is read: the dataset may have moved
            try:
                current = file_identity(path)
            except FileNotFoundError:
                continue
            if current != recorded:
                raise _changed_input(self.root, key, path, recorded, current)


def _row(value: Any, index: int) -> Any:
    if isinstance(value, Tensor):
        return value[index]
    return tuple(_row(v, index) for v in value)
