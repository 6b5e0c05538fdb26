# Copyright (c) mmkd contributors. All rights reserved.
"""Teacher outputs computed once and read back instead of running the
teacher (``tools/cache_teacher.py`` writes them)."""
import hashlib
import json
import os
import os.path as osp
from typing import Any, Dict, List, Optional

import torch
from mmengine.logging import print_log
from torch import Tensor

#: transforms whose output a cache entry can be keyed by: deterministic
#: given the sample, or random only through a flag stored in the metainfo
KEYABLE_TRANSFORMS = {
    'LoadImageFromFile', 'LoadAnnotations', 'LoadPointsFromFile',
    'LoadAnnotations3D', 'PackSegInputs', 'PackDetInputs', 'PackDet3DInputs',
    'Resize', 'RandomFlip'
}

CACHE_FILE = 'teacher_cache.pth'
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


def _split(value: Any, index: int) -> Any:
    if isinstance(value, Tensor):
        return value[index].to(torch.float16).cpu().clone()
    return tuple(_split(v, index) for v in value)


def _stack(values: List[Any], device) -> Any:
    if isinstance(values[0], Tensor):
        return torch.stack(values).to(device=device, dtype=torch.float32)
    return tuple(
        _stack([v[i] for v in values], device)
        for i in range(len(values[0])))


class TeacherCache:
    """Per-sample teacher taps, stored in float16.

    Args:
        fingerprint (str): :func:`teacher_fingerprint` of the teacher that
            produced the entries.
        entries (dict, optional): Sample key to ``{tap: tensor}``.
    """

    def __init__(self, fingerprint: str,
                 entries: Optional[Dict[str, dict]] = None) -> None:
        self.fingerprint = fingerprint
        self.entries = entries or {}

    def add(self, feats: Dict[str, Any], data_samples: list) -> None:
        """Store a batch of teacher taps, one entry per sample."""
        for i, sample in enumerate(data_samples):
            self.entries[sample_key(sample)] = {
                name: _split(value, i)
                for name, value in feats.items()
            }

    def lookup(self, data_samples: list, device) -> Dict[str, Any]:
        """The batch's teacher taps, float32 on ``device``."""
        rows = []
        for sample in data_samples:
            key = sample_key(sample)
            if key not in self.entries:
                raise KeyError(
                    f'teacher cache has no entry {key!r}: it was built for '
                    'other data or augmentations; rebuild it with '
                    'tools/cache_teacher.py')
            rows.append(self.entries[key])
        return {
            name: _stack([r[name] for r in rows], device)
            for name in rows[0]
        }

    def nbytes(self) -> int:
        """Bytes of the stored tensors."""

        def size(value):
            if isinstance(value, Tensor):
                return value.numel() * value.element_size()
            return sum(size(v) for v in value)

        return sum(
            size(v) for entry in self.entries.values() for v in entry.values())

    def save(self, out_dir: str) -> None:
        os.makedirs(out_dir, exist_ok=True)
        torch.save(self.entries, osp.join(out_dir, CACHE_FILE))
        with open(osp.join(out_dir, META_FILE), 'w') as f:
            json.dump(
                dict(
                    fingerprint=self.fingerprint,
                    entries=len(self.entries),
                    nbytes=self.nbytes()),
                f,
                indent=2)

    @classmethod
    def load(cls, cache_dir: str, fingerprint: str) -> 'TeacherCache':
        """Load a cache, refusing one built for another teacher or taps."""
        meta_file = osp.join(cache_dir, META_FILE)
        if not osp.isfile(meta_file):
            raise FileNotFoundError(
                f'teacher_cache {cache_dir!r} has no {META_FILE}; build it '
                'with tools/cache_teacher.py')
        with open(meta_file) as f:
            meta = json.load(f)
        if meta['fingerprint'] != fingerprint:
            raise ValueError(
                f'teacher_cache {cache_dir!r} was built for another teacher '
                'config, checkpoint, taps or teacher_dtype (fingerprint '
                f'{meta["fingerprint"][:12]}, this config '
                f'{fingerprint[:12]}); rebuild it with tools/cache_teacher.py')
        entries = torch.load(osp.join(cache_dir, CACHE_FILE))
        cache = cls(fingerprint, entries)
        print_log(
            f'teacher cache {cache_dir}: {len(entries)} samples, '
            f'{cache.nbytes() / 2**20:.1f} MiB',
            logger='current')
        return cache
