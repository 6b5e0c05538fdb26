# Copyright (c) mmkd contributors. All rights reserved.
"""Records of a record cache (:mod:`mmkd.utils.record_cache`) in the data
pipeline: loaded by the sample's key, their boxes moved with the sample's
own geometric augmentation, packed into its data sample.

mmdet's geometric transforms move ``gt_bboxes`` and a few known keys only,
not arbitrary ones, but Resize, RandomFlip, RandomCrop and RandomAffine
compose ``results['homography_matrix']``; cached boxes (stored in the
original image's coordinates) are projected with it::

    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', with_bbox=True),
        dict(type='mmkd.LoadCachedRecords', cache='work_dirs/clip_boxes',
             data_root=data_root),
        dict(type='RandomResize', scale=(1333, 800), ratio_range=(0.5, 2.),
             keep_ratio=True, resize_type='mmdet.Resize'),
        dict(type='RandomFlip', prob=0.5),
        dict(type='RandomCrop', crop_size=(800, 800)),
        dict(type='mmkd.TransformCachedBoxes'),   # optional, see below
        dict(type='Pad', size=(800, 800)),
        dict(type='mmkd.PackCachedRecords', pack=dict(type='PackDetInputs')),
    ]

The records are ``results['cached_<field>']`` between the transforms and
``data_sample.cached_records`` (an ``InstanceData``) after packing.
:class:`PackCachedRecords` moves boxes not yet moved itself;
:class:`TransformCachedBoxes` is for a pipeline that needs them earlier or
pads (place it before ``Pad``, which changes the image shape but not the
coordinates).
"""
from typing import Dict, Optional, Sequence, Union

from mmcv.transforms import BaseTransform
from mmengine.structures import InstanceData

from mmkd.registry import TRANSFORMS
from mmkd.utils.record_cache import (RecordCache, record_key,
                                     resolve_homography, transform_records)

#: results key of the loaded record groups: prefix -> dict(fields, boxes
#: (box fields not yet moved), key, cache, shape (image shape at load))
RECORD_GROUPS = 'cached_record_groups'


def _where(results: dict) -> str:
    for key in ('img_path', 'lidar_path', 'sample_idx'):
        if key in results:
            return f'{key}={results[key]!r}'
    return 'a sample'


def _open(cache: Union[str, dict, RecordCache]) -> RecordCache:
    if isinstance(cache, RecordCache):
        return cache
    if isinstance(cache, str):
        return RecordCache(cache)
    if isinstance(cache, dict):
        return RecordCache(**cache)
    raise TypeError('cache must be a record cache folder, dict(root=..., '
                    f'schema=..., fingerprint=...) or a RecordCache, got '
                    f'{cache!r}')


@TRANSFORMS.register_module()
class LoadCachedRecords(BaseTransform):
    """Put a sample's cached records into the results as
    ``<prefix><field>`` (tensors; box fields still in the original
    image's coordinates, registered to be moved by
    :class:`TransformCachedBoxes` or :class:`PackCachedRecords`).

    Args:
        cache (str | dict | RecordCache): The cache folder, or the keyword
            arguments of :class:`~mmkd.utils.record_cache.RecordCache`
            (``root``, ``schema``, ``fingerprint``, ``extra_inputs``,
            ``verify``); opened (and checked) when the pipeline is built.
        fields (list[str], optional): Fields to load (None: all).
        key (str): The results entry keying the sample: ``'img_path'``,
            ``'sample_idx'``, or an entry naming another sample (e.g. the
            previous frame's path). Defaults to ``'img_path'``.
        data_root (str, optional): Paths are keyed relative to it, as the
            cache was written (:func:`~mmkd.utils.record_cache.record_key`).
        prefix (str): Results and data-sample names: ``<prefix><field>``
            and ``<prefix>records``. Defaults to ``'cached_'``.
        transform_boxes (bool): Whether box fields follow the sample's
            geometric augmentation. Defaults to True.
    """

    def __init__(self,
                 cache: Union[str, dict, RecordCache],
                 fields: Optional[Sequence[str]] = None,
                 key: str = 'img_path',
                 data_root: Optional[str] = None,
                 prefix: str = 'cached_',
                 transform_boxes: bool = True) -> None:
        if not (isinstance(prefix, str) and prefix):
            raise ValueError(f'LoadCachedRecords: prefix must be a non-empty '
                             f'str, got {prefix!r}')
        self.cache = _open(cache)
        self.fields = self.cache.check_fields(fields)
        self.key = key
        self.data_root = data_root
        self.prefix = prefix
        self.transform_boxes = transform_boxes

    def transform(self, results: dict) -> dict:
        if self.key not in results:
            raise KeyError(
                f'LoadCachedRecords: {_where(results)} has no {self.key!r} '
                f'to key the record cache {self.cache.root!r} (keys: '
                f'{", ".join(sorted(results))})')
        name = record_key(results[self.key], self.data_root)
        groups = results.setdefault(RECORD_GROUPS, {})
        taken = [
            self.prefix + f for f in self.fields if self.prefix + f in results
        ] + ([self.prefix] if self.prefix in groups else [])
        if taken:
            raise KeyError(
                f'LoadCachedRecords: {_where(results)} already has {taken}; '
                'give each LoadCachedRecords its own prefix')
        records = self.cache.get(name, self.fields)
        for field, value in records.items():
            results[self.prefix + field] = value
        shape = results.get('ori_shape', results.get('img_shape'))
        groups[self.prefix] = dict(
            fields=list(self.fields),
            boxes=[f for f in self.cache.box_fields
                   if f in self.fields] if self.transform_boxes else [],
            key=name,
            cache=self.cache.root,
            shape=None if shape is None else tuple(shape[:2]))
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(cache={self.cache.root!r}, '
                f'fields={self.fields}, key={self.key!r}, '
                f'prefix={self.prefix!r})')


def move_cached_boxes(results: dict,
                      prefixes: Optional[Sequence[str]] = None,
                      clip: bool = True,
                      drop_outside: bool = True) -> dict:
    """Move the box fields of loaded record groups not yet moved into the
    augmented image (``results['homography_matrix']``), clipping and
    dropping records outside it from every field of their group."""
    groups: Dict[str, dict] = results.get(RECORD_GROUPS, {})
    for prefix in groups if prefixes is None else prefixes:
        group = groups.get(prefix)
        if group is None:
            raise KeyError(
                f'{_where(results)} has no cached records with prefix '
                f'{prefix!r} (loaded: {sorted(groups)}); load them with '
                'LoadCachedRecords first')
        if not group['boxes']:
            continue
        where = (f'record cache {group["cache"]!r}, {_where(results)} '
                 f'(key {group["key"]!r})')
        homography = resolve_homography(
            results.get('homography_matrix'), bool(results.get('flip')),
            results.get('img_shape'), group['shape'], where)
        records = {f: results[prefix + f] for f in group['fields']}
        records = transform_records(records, group['boxes'], homography,
                                    results.get('img_shape'), clip,
                                    drop_outside)
        for field, value in records.items():
            results[prefix + field] = value
        group['boxes'] = []
    return results


@TRANSFORMS.register_module()
class TransformCachedBoxes(BaseTransform):
    """Move cached box fields into the augmented image; place it after the
    geometric transforms and before ``Pad``.

    Boxes are projected with ``results['homography_matrix']`` (mmdet's
    Resize, RandomFlip, RandomCrop and RandomAffine record it), clipped to
    ``img_shape``, and records whose boxes lie outside the image are
    dropped from every field of their group, as RandomCrop drops ground
    truth. A flipped or reshaped image without a homography is refused.

    Args:
        prefixes (list[str], optional): Record groups to move (None: all
            loaded).
        clip (bool): Clip boxes to the image. Defaults to True.
        drop_outside (bool): Drop records outside the image. Defaults to
            True.
    """

    def __init__(self,
                 prefixes: Optional[Sequence[str]] = None,
                 clip: bool = True,
                 drop_outside: bool = True) -> None:
        self.prefixes = None if prefixes is None else list(prefixes)
        self.clip = clip
        self.drop_outside = drop_outside

    def transform(self, results: dict) -> dict:
        if not results.get(RECORD_GROUPS):
            raise KeyError(f'TransformCachedBoxes: {_where(results)} has no '
                           'cached records; put LoadCachedRecords before it')
        return move_cached_boxes(results, self.prefixes, self.clip,
                                 self.drop_outside)


@TRANSFORMS.register_module()
class PackCachedRecords(BaseTransform):
    """Pack the results with ``pack`` and set each loaded record group on
    the data sample as ``data_sample.<prefix>records`` (an
    ``InstanceData``; ``cached_records`` by default). Box fields not yet
    moved are moved first (:class:`TransformCachedBoxes`).

    Args:
        pack (dict): The pipeline's packing transform, e.g.
            ``dict(type='PackDetInputs')`` (or ``mmkd.PackTeacherView``).
        clip (bool): See :class:`TransformCachedBoxes`.
        drop_outside (bool): See :class:`TransformCachedBoxes`.
    """

    def __init__(self,
                 pack: Union[dict, BaseTransform],
                 clip: bool = True,
                 drop_outside: bool = True) -> None:
        self.pack = TRANSFORMS.build(pack) if isinstance(pack, dict) else pack
        self.clip = clip
        self.drop_outside = drop_outside

    def transform(self, results: dict) -> dict:
        groups = results.get(RECORD_GROUPS)
        if not groups:
            raise KeyError(f'PackCachedRecords: {_where(results)} has no '
                           'cached records; put LoadCachedRecords before it')
        move_cached_boxes(results, None, self.clip, self.drop_outside)
        packed = self.pack(results)
        sample = packed['data_samples']
        for prefix, group in groups.items():
            records = {f: results[prefix + f] for f in group['fields']}
            sample.set_field(InstanceData(**records), prefix + 'records')
        return packed

    def __repr__(self) -> str:
        return f'{type(self).__name__}(pack={self.pack})'
