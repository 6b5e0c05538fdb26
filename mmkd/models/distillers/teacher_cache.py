# Copyright (c) mmkd contributors. All rights reserved.
"""Teacher outputs computed once and read back instead of running the
teacher (``tools/cache_teacher.py`` writes them)."""
import hashlib
import json
import os
import os.path as osp
from typing import Any, Dict, List, Optional

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from torch import Tensor

#: transforms whose output a cache entry can be keyed by: deterministic
#: given the sample, or random only through a flag stored in the metainfo
KEYABLE_TRANSFORMS = {
    'LoadImageFromFile', 'LoadAnnotations', 'LoadPointsFromFile',
    'LoadAnnotations3D', 'PackSegInputs', 'PackDetInputs', 'PackDet3DInputs',
    'Resize', 'RandomFlip', 'CheckSegLabels'
}

ENTRY_DIR = 'entries'
META_FILE = 'meta.json'


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

    Args:
        fingerprint (str): :func:`teacher_fingerprint` of the teacher that
            produced the entries.
        root (str): The cache folder.
        topk (int, optional): See :func:`encode`.
        pool (int, optional): See :func:`encode`.
        index (dict, optional): Sample key to entry file, for a loaded cache.
    """

    def __init__(self,
                 fingerprint: str,
                 root: str,
                 topk: Optional[int] = None,
                 pool: Optional[int] = None,
                 index: Optional[Dict[str, str]] = None,
                 nbytes: int = 0) -> None:
        self.fingerprint = fingerprint
        self.root = root
        self.topk = topk
        self.pool = pool
        self.index = dict(index or {})
        self._nbytes = nbytes

    def add(self, feats: Dict[str, Any], data_samples: list) -> None:
        """Encode and write a batch of teacher taps, one file per sample."""
        os.makedirs(osp.join(self.root, ENTRY_DIR), exist_ok=True)
        for i, sample in enumerate(data_samples):
            key = sample_key(sample)
            entry = {
                name: encode(_row(value, i), self.topk, self.pool)
                for name, value in feats.items()
            }
            name = self.index.get(key, f'{len(self.index):07d}.pth')
            torch.save(entry, osp.join(self.root, ENTRY_DIR, name))
            self.index[key] = name
            self._nbytes += sum(_nbytes(v) for v in entry.values())

    def lookup(self, data_samples: list, device) -> Dict[str, Any]:
        """The batch's teacher taps, decoded to float32 on ``device``."""
        rows = []
        for sample in data_samples:
            key = sample_key(sample)
            if key not in self.index:
                raise KeyError(
                    f'teacher cache {self.root!r} has no entry {key!r}: it '
                    'was built for other data or augmentations; rebuild it '
                    'with tools/cache_teacher.py')
            entry = torch.load(osp.join(self.root, ENTRY_DIR, self.index[key]))
            rows.append({name: decode(v) for name, v in entry.items()})
        return {
            name: _stack([r[name] for r in rows], device)
            for name in rows[0]
        }

    def __len__(self) -> int:
        return len(self.index)

    def nbytes(self) -> int:
        """Bytes of the stored tensors."""
        return self._nbytes

    def save(self) -> None:
        """Write the index and metadata; :meth:`add` wrote the entries."""
        os.makedirs(self.root, exist_ok=True)
        with open(osp.join(self.root, META_FILE), 'w') as f:
            json.dump(
                dict(
                    fingerprint=self.fingerprint,
                    topk=self.topk,
                    pool=self.pool,
                    entries=len(self.index),
                    nbytes=self._nbytes,
                    index=self.index),
                f,
                indent=1)

    @classmethod
    def load(cls, cache_dir: str, fingerprint: str) -> 'TeacherCache':
        """Open a cache, refusing one built for another teacher or taps."""
        meta_file = osp.join(cache_dir, META_FILE)
        if not osp.isfile(meta_file):
            raise FileNotFoundError(
                f'teacher_cache {cache_dir!r} has no {META_FILE}; build it '
                'with tools/cache_teacher.py')
        with open(meta_file) as f:
            meta = json.load(f)
        if meta.get('fingerprint') != fingerprint:
            raise ValueError(
                f'teacher_cache {cache_dir!r} was built for another teacher '
                'config, checkpoint, taps or teacher_dtype (fingerprint '
                f'{str(meta.get("fingerprint"))[:12]}, this config '
                f'{fingerprint[:12]}); rebuild it with tools/cache_teacher.py')
        cache = cls(fingerprint, cache_dir, meta['topk'], meta['pool'],
                    meta['index'], meta['nbytes'])
        print_log(
            f'teacher cache {cache_dir}: {len(cache)} samples, '
            f'{cache.nbytes() / 2**20:.1f} MiB (topk={cache.topk}, '
            f'pool={cache.pool})',
            logger='current')
        return cache


def _row(value: Any, index: int) -> Any:
    if isinstance(value, Tensor):
        return value[index]
    return tuple(_row(v, index) for v in value)
