# Copyright (c) mmkd contributors. All rights reserved.
"""OAKE's embeddings of a dataset, written into record caches (teacher
cache v2, :mod:`mmkd.utils.record_cache`).

``<out>/global``, ``<out>/blocks`` and ``<out>/objects`` are one record
cache each, keyed by the image path relative to ``data_root``:

- ``global``: ``embeddings`` (1, D) float16;
- ``blocks``: ``boxes`` (K, 4) float32 ``xyxy`` and ``embeddings``
  (K, D) float16;
- ``objects``: ``boxes`` (M, 4), ``embeddings`` (M, D) and the proposals'
  ``scores`` (M,) float32, for the proposals OAKE keeps (>= 4 px).

Embeddings are L2-normalised; boxes are in the original image's pixels
(``mmkd.LoadCachedRecords`` moves them with each sample's resize and
flip). Each cache's fingerprint names the CLIP weights (a hash of the
image tower's tensors, whatever the checkpoint's file format) and OAKE's
settings; the objects cache records the proposal file as an extra input.
:func:`open_oake_cache` refuses a cache of other CLIP weights, settings or
proposal file.
"""
import copy
import hashlib
import os.path as osp
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Union

import mmcv
import torch
from mmengine import fileio
from torch import nn

from mmkd.models.clip import CLIPImageTower, to_rgb_tensor
from mmkd.registry import DATASETS
from mmkd.utils.record_cache import (RecordCache, RecordCacheWriter,
                                     record_key)
from .oake import OAKE
from .proposals import ProposalSample, load_proposals

__all__ = [
    'OAKE_VIEWS', 'dataset_samples', 'extract_oake', 'oake_fingerprint',
    'oake_schema', 'open_oake_cache', 'tower_hash'
]

OAKE_VIEWS = ('global', 'blocks', 'objects')


def oake_schema(view: str, dim: int) -> dict:
    """The record schema of one OAKE cache (``dim``: embedding width)."""
    embeddings = dict(dtype='float16', shape=(dim, ))
    boxes = dict(dtype='float32', shape=(4, ), box='xyxy')
    if view == 'global':
        return dict(embeddings=embeddings)
    if view == 'blocks':
        return dict(boxes=boxes, embeddings=embeddings)
    if view == 'objects':
        return dict(
            boxes=boxes,
            embeddings=embeddings,
            scores=dict(dtype='float32', shape=()))
    raise ValueError(f'OAKE has views {OAKE_VIEWS}, got {view!r}')


def tower_hash(tower: nn.Module) -> str:
    """blake2b (16 bytes) of a tower's tensors: names, dtypes, shapes and
    bytes, so one set of weights hashes alike from a TorchScript archive
    or a state dict file."""
    digest = hashlib.blake2b(digest_size=16)
    for name, value in sorted(tower.state_dict().items()):
        value = value.detach().cpu().contiguous()
        digest.update(f'{name} {value.dtype} {list(value.shape)}'.encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def oake_fingerprint(oake: OAKE, view: str) -> str:
    """``clip=<tower hash> oake=<view> <settings JSON>``: what determines
    one OAKE cache's records (the proposals aside: an extra input)."""
    if view not in OAKE_VIEWS:
        raise ValueError(f'OAKE has views {OAKE_VIEWS}, got {view!r}')
    return f'clip={tower_hash(oake.tower)} oake={view} {oake.describe()}'


def _without_pipeline(cfg):
    """A dataset config without pipelines (a pipeline that loads this very
    cache could not be built before it exists), wrappers included."""
    cfg = copy.deepcopy(cfg)
    if isinstance(cfg, dict):
        if 'pipeline' in cfg:
            cfg['pipeline'] = []
        if 'dataset' in cfg:
            cfg['dataset'] = _without_pipeline(cfg['dataset'])
        if 'datasets' in cfg:
            cfg['datasets'] = [_without_pipeline(d) for d in cfg['datasets']]
    return cfg


def dataset_samples(dataset, data_root: Optional[str] = None) -> List[dict]:
    """The images of a dataset (a config or a built dataset): per image
    ``img_path``, ``img_id`` and ``key`` (:func:`record_key`)."""
    if isinstance(dataset, Mapping):
        dataset = DATASETS.build(_without_pipeline(dataset))
    samples = []
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        if 'img_path' not in info:
            raise KeyError(f'OAKE: sample {i} of the dataset has no img_path '
                           f'(keys: {sorted(info)})')
        samples.append(
            dict(
                img_path=info['img_path'],
                img_id=info.get('img_id'),
                key=record_key(info['img_path'], data_root)))
    keys = [s['key'] for s in samples]
    if len(set(keys)) != len(keys):
        twice = sorted({k for k in keys if keys.count(k) > 1})[:3]
        raise ValueError(f'OAKE: images listed twice in the dataset: {twice}')
    return samples


def _load_image(path: str) -> torch.Tensor:
    """As mmdet's ``LoadImageFromFile`` (cv2, EXIF orientation applied),
    so that boxes share the training pipeline's original coordinates."""
    image = mmcv.imfrombytes(
        fileio.get(path), flag='color', channel_order='rgb')
    if image is None:
        raise ValueError(f'OAKE: {path!r} is not an image cv2 can read')
    return to_rgb_tensor(image, 'rgb')


def extract_oake(
        dataset,
        oake: OAKE,
        out: str,
        proposal_file: Optional[str] = None,
        data_root: Optional[str] = None,
        views: Sequence[str] = OAKE_VIEWS,
        progress: Optional[Callable[[int, int],
                                    None]] = None) -> Dict[str, str]:
    """Embed every image of ``dataset`` with OAKE into record caches.

    The proposals are read and checked for every image before any image
    is embedded; the caches appear only when all images are done (an
    error leaves the caches in ``out`` as they were).

    Args:
        dataset (dict | Dataset): A dataset config (its pipeline is not
            used: images are read from ``img_path``) or a dataset.
        oake (OAKE): The teacher.
        out (str): Folder of the caches, ``<out>/<view>``.
        proposal_file (str, optional): Proposals (see
            :mod:`.proposals`); needed for the objects view.
        data_root (str, optional): Keys are image paths relative to it.
        views (list[str]): Views to extract. Defaults to all three.
        progress (callable, optional): Called with ``(done, total)``.

    Returns:
        dict: View to cache folder.
    """
    views = list(views)
    unknown = [v for v in views if v not in OAKE_VIEWS]
    if unknown or not views:
        raise ValueError(f'OAKE has views {OAKE_VIEWS}, got {views}')
    samples = dataset_samples(dataset, data_root)
    proposals = None
    if 'objects' in views:
        if proposal_file is None:
            raise ValueError('OAKE objects need a proposal_file')
        proposals = load_proposals(proposal_file, [
            ProposalSample(s['key'], s['img_path'], s['img_id'])
            for s in samples
        ])
    dim = oake.tower.output_dim
    roots = {view: osp.join(out, view) for view in views}
    writers = {}
    try:
        for view in views:
            writers[view] = RecordCacheWriter(
                roots[view], oake_schema(view, dim),
                oake_fingerprint(oake, view),
                dict(proposals=proposal_file) if view == 'objects' else None)
        for i, sample in enumerate(samples):
            image = _load_image(sample['img_path'])
            key = sample['key']
            if 'global' in writers:
                writers['global'].add(
                    key, dict(embeddings=oake.embed_global(image).half()))
            if 'blocks' in writers:
                blocks = oake.embed_blocks(image)
                writers['blocks'].add(
                    key,
                    dict(
                        boxes=blocks['boxes'],
                        embeddings=blocks['embeddings'].half()))
            if 'objects' in writers:
                found = proposals[i]
                objects = oake.embed_objects(image, found[:, :4])
                writers['objects'].add(
                    key,
                    dict(
                        boxes=objects['boxes'],
                        embeddings=objects['embeddings'].half(),
                        scores=found[objects['keep'], 4]))
            if progress is not None:
                progress(i + 1, len(samples))
    except BaseException:
        for writer in writers.values():
            writer.discard()
        raise
    for writer in writers.values():
        writer.close()
    return roots


def open_oake_cache(root: str,
                    view: str,
                    clip: Union[None, str, Mapping, CLIPImageTower,
                                OAKE] = None,
                    proposal_file: Optional[str] = None,
                    **oake_settings) -> RecordCache:
    """Open one OAKE cache, refusing one of other CLIP weights, settings or
    proposals.

    Args:
        root (str): The caches' folder (``out`` of :func:`extract_oake`).
        view (str): ``'global'``, ``'blocks'`` or ``'objects'``.
        clip (str | dict | CLIPImageTower | OAKE, optional): The CLIP
            checkpoint (or tower, or teacher) the cache must come from;
            None checks no weights.
        proposal_file (str, optional): The proposal file the objects cache
            must come from (None: the file it was built from, unchanged).
        **oake_settings: :class:`OAKE` settings the cache must have been
            built with (with ``clip``).

    Returns:
        RecordCache: The opened cache.
    """
    path = osp.join(root, view)
    extra = None
    if view == 'objects' and proposal_file is not None:
        extra = dict(proposals=proposal_file)
    cache = RecordCache(path, extra_inputs=extra)
    if clip is None:
        return cache
    oake = clip if isinstance(clip, OAKE) else OAKE(clip, **oake_settings)
    expected = oake_fingerprint(oake, view)
    found = cache.fingerprint
    expected_clip, found_clip = expected.split()[0], found.split()[0]
    if expected_clip != found_clip:
        raise ValueError(
            f'OAKE cache {path!r} was computed with other CLIP weights '
            f'({found_clip}) than {_name(clip)} ({expected_clip}); rebuild '
            'it with tools/misc/oadp_extract.py')
    if expected != found:
        raise ValueError(
            f'OAKE cache {path!r} was computed with other OAKE settings: '
            f'{found.split(" ", 2)[-1]}, expected '
            f'{expected.split(" ", 2)[-1]}; rebuild it with '
            'tools/misc/oadp_extract.py')
    return cache


def _name(clip) -> str:
    if isinstance(clip, str):
        return f'CLIP checkpoint {clip!r}'
    return f'the given {type(clip).__name__}'
