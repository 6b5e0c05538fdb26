# Copyright (c) mmkd contributors. All rights reserved.
"""DigitScenes as upstream mmseg / mmdet datasets, generated on first use."""
import logging
import os
import os.path as osp
from typing import Optional

from mmdet.datasets import CocoDataset
from mmengine.dist import barrier, get_rank
from mmengine.fileio import list_dir_or_file
from mmengine.logging import print_log
from mmseg.datasets import BaseSegDataset

from mmkd.registry import DATASETS
from .generate import (DIGIT_SCENES_CLASSES, DIGIT_SCENES_PALETTE,
                       make_digit_scenes, read_stamp)

DEFAULT_ROOT = 'data/digit_scenes'


def _non_empty(path: str) -> bool:
    if osp.isdir(path):
        return len(os.listdir(path)) > 0
    return osp.isfile(path)


def is_default_root(data_root: str) -> bool:
    """Whether ``data_root`` is :data:`DEFAULT_ROOT` (relative to the
    working directory), however it is spelt."""
    return osp.abspath(data_root) == osp.abspath(DEFAULT_ROOT)


def prepare_digit_scenes(data_root: str, required: list,
                         auto_generate: Optional[bool],
                         generate_cfg: Optional[dict]) -> None:
    """Make sure DigitScenes is in ``data_root`` before a dataset reads it.

    Generates the data (rank 0 only, then a barrier) if ``data_root`` is
    missing or empty, or holds a ``meta.json`` and ``generate_cfg`` states
    other values for some of its parameters (a warning names them); the
    parameters ``generate_cfg`` leaves out are the existing data's, not
    :func:`make_digit_scenes`' defaults, so that a config pointed at a set
    generated otherwise (a held-out seed) reads it instead of generating
    over it. A directory with neither a ``meta.json`` nor the ``required``
    files is left alone and reported.

    Args:
        data_root (str): Dataset root.
        required (list[str]): Paths (folders must be non-empty) the dataset
            reads.
        auto_generate (bool, optional): Whether generating is allowed. None
            allows it at :data:`DEFAULT_ROOT` and in a root that already
            holds a generated DigitScenes (``meta.json``) only, so that a
            mistyped ``data_root`` is an error rather than a new dataset.
        generate_cfg (dict, optional): Keyword arguments of
            :func:`make_digit_scenes`; with an existing ``meta.json`` and no
            ``generate_cfg`` the data are used as they are.

    Raises:
        FileNotFoundError: If a required path is missing or empty afterwards.
    """
    has_meta = osp.isfile(osp.join(data_root, 'meta.json'))
    allowed = auto_generate
    if auto_generate is None:
        allowed = has_meta or is_default_root(data_root)
    try:
        if get_rank() == 0 and allowed:
            if has_meta:
                if generate_cfg:
                    _regenerate_if_asked(data_root, generate_cfg)
            elif not _non_empty(data_root):
                make_digit_scenes(data_root, **(generate_cfg or {}))
    finally:
        barrier()
    missing = [p for p in required if not _non_empty(p)]
    if not missing:
        return
    if auto_generate is None and not allowed:
        raise FileNotFoundError(
            f'DigitScenes: data_root {data_root!r} holds no DigitScenes '
            f'({missing[0]!r} is missing or empty) and is not the default '
            f'root {DEFAULT_ROOT!r}, the only one generated on first use. '
            'Check the path, or set auto_generate=True on the dataset to '
            'generate it there (or run `python tools/dataset_converters/'
            f'digit_scenes.py {data_root}`).')
    why = ('auto_generate=False' if not auto_generate else
           'the directory is not empty and has no meta.json, so it is '
           'not generated over')
    raise FileNotFoundError(
        f'DigitScenes: {missing[0]!r} is missing or empty ({why}). '
        'Generate the data with `python tools/dataset_converters/'
        f'digit_scenes.py {data_root}`, or point data_root at a missing '
        'or empty directory with auto_generate=True (no need at the default '
        f'root {DEFAULT_ROOT!r}) to generate it on first use.')


def _regenerate_if_asked(data_root: str, generate_cfg: dict) -> None:
    """Generate over the DigitScenes in ``data_root`` only for the
    parameters ``generate_cfg`` states with other values than its
    ``meta.json``."""
    stamp = read_stamp(data_root)
    params = {
        key: stamp[key]
        for key in ('num_train', 'num_val', 'img_size', 'seed', 'domain')
        if stamp.get(key) is not None
    }
    params.update(generate_cfg)
    changed = [
        f'{key} {stamp.get(key)!r} -> {value!r}'
        for key, value in params.items() if stamp.get(key) != value
    ]
    if changed:
        print_log(
            f'DigitScenes: generating over {data_root!r}: generate_cfg '
            f'asks for {", ".join(changed)} (its meta.json)',
            logger='current',
            level=logging.WARNING)
    make_digit_scenes(data_root, **params)


class _NonEmptyMixin:
    """Refuse to build a dataset with no samples."""

    def filter_data(self) -> list:
        # checked before serialising, which fails obscurely on an empty list
        data_list = super().filter_data()
        if not data_list:
            raise FileNotFoundError(
                f'{type(self).__name__}: no samples found under '
                f'{self.data_root!r} (data_prefix={self.data_prefix}). '
                'Regenerate it with `python tools/dataset_converters/'
                f'digit_scenes.py {self.data_root}`.')
        return data_list


class _SegPairsMixin:
    """Refuse, at build time, images without seg maps and seg maps without
    images.

    mmseg's ``BaseSegDataset`` lists the images under ``img_path`` and
    derives each seg map's path from the image's name: a seg map whose image
    is missing is left out without a word (training on fewer samples), and
    a missing seg map fails only when its sample is loaded.
    """

    def load_data_list(self) -> list:
        data_list = super().load_data_list()
        for info in data_list:
            seg_map = info.get('seg_map_path')
            if not osp.isfile(info['img_path']):
                raise FileNotFoundError(
                    f'{type(self).__name__}: image {info["img_path"]!r} '
                    f'(seg map {seg_map!r}) does not exist')
            if seg_map is not None and not osp.isfile(seg_map):
                raise FileNotFoundError(
                    f'{type(self).__name__}: image {info["img_path"]!r} has '
                    f'no seg map {seg_map!r}')
        ann_dir = self.data_prefix.get('seg_map_path')
        # with an ann_file the split lists the samples; without one, every
        # seg map in ann_dir must have been paired with an image (no image
        # at all is reported as an empty dataset)
        if data_list and ann_dir and not self.ann_file and osp.isdir(ann_dir):
            listed = {osp.normpath(info['seg_map_path']) for info in data_list}
            img_dir = self.data_prefix.get('img_path', '')
            for name in sorted(
                    list_dir_or_file(
                        ann_dir,
                        list_dir=False,
                        suffix=self.seg_map_suffix,
                        recursive=True)):
                seg_map = osp.normpath(osp.join(ann_dir, name))
                if seg_map in listed:
                    continue
                stem = name[:-len(self.seg_map_suffix)]
                image = osp.join(img_dir, stem + self.img_suffix)
                raise FileNotFoundError(
                    f'{type(self).__name__}: seg map {seg_map!r} has no image '
                    f'{image!r}; restore the image or remove the seg map')
        return data_list


@DATASETS.register_module()
class DigitScenesDataset(_NonEmptyMixin, _SegPairsMixin, BaseSegDataset):
    """DigitScenes semantic segmentation: 10 digits + background.

    An image without its seg map, or a seg map without its image, is an
    error at build time, naming the missing file.

    Args:
        data_root (str): Dataset root. Defaults to ``'data/digit_scenes'``.
        data_prefix (dict, optional): ``img_path`` / ``seg_map_path`` under
            ``data_root``. Defaults to the train split.
        img_suffix (str): Defaults to ``'.png'``.
        seg_map_suffix (str): Defaults to ``'.png'``.
        reduce_zero_label (bool): Defaults to False.
        auto_generate (bool, optional): Generate the data into a missing or
            empty ``data_root``. None (the default) generates only at the
            default root ``data/digit_scenes`` (or regenerates a root that
            holds DigitScenes for other ``generate_cfg``): another missing
            root is an error, not a new dataset. True generates anywhere,
            False never.
        generate_cfg (dict, optional): ``num_train``, ``num_val``, ``domain``,
            ``img_size``, ``seed`` of :func:`make_digit_scenes`.
            Defaults to None (its defaults).
        **kwargs: Passed to :class:`mmseg.datasets.BaseSegDataset`.
    """
    METAINFO = dict(classes=DIGIT_SCENES_CLASSES, palette=DIGIT_SCENES_PALETTE)

    def __init__(self,
                 data_root: str = DEFAULT_ROOT,
                 data_prefix: Optional[dict] = None,
                 img_suffix: str = '.png',
                 seg_map_suffix: str = '.png',
                 reduce_zero_label: bool = False,
                 auto_generate: Optional[bool] = None,
                 generate_cfg: Optional[dict] = None,
                 **kwargs) -> None:
        if data_prefix is None:
            data_prefix = dict(
                img_path='img_dir/train', seg_map_path='ann_dir/train')
        prepare_digit_scenes(
            data_root, [osp.join(data_root, data_prefix.get('img_path', ''))],
            auto_generate, generate_cfg)
        super().__init__(
            data_root=data_root,
            data_prefix=data_prefix,
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            reduce_zero_label=reduce_zero_label,
            **kwargs)


@DATASETS.register_module()
class DigitScenesDetDataset(_NonEmptyMixin, CocoDataset):
    """DigitScenes detection / instance segmentation in COCO format.

    Masks are COCO RLE, so mmdet's ``LoadAnnotations`` needs
    ``poly2mask=True`` (its default); with ``poly2mask=False`` it would mark
    every instance ignored. Each annotation also carries ``point`` (an
    ``[x, y]`` pixel inside the mask) and ``scan_id``.

    Args:
        data_root (str): Dataset root. Defaults to ``'data/digit_scenes'``.
        ann_file (str): Defaults to ``'annotations/instances_train.json'``.
        data_prefix (dict, optional): ``img`` under ``data_root``.
            Defaults to ``dict(img='img_dir/train/')``.
        auto_generate (bool, optional): See :class:`DigitScenesDataset`.
        generate_cfg (dict, optional): See :class:`DigitScenesDataset`.
        **kwargs: Passed to :class:`mmdet.datasets.CocoDataset`.
    """
    METAINFO = dict(
        classes=DIGIT_SCENES_CLASSES[1:],
        palette=[tuple(c) for c in DIGIT_SCENES_PALETTE[1:]])

    def __init__(self,
                 data_root: str = DEFAULT_ROOT,
                 ann_file: str = 'annotations/instances_train.json',
                 data_prefix: Optional[dict] = None,
                 auto_generate: Optional[bool] = None,
                 generate_cfg: Optional[dict] = None,
                 **kwargs) -> None:
        if data_prefix is None:
            data_prefix = dict(img='img_dir/train/')
        prepare_digit_scenes(data_root, [
            osp.join(data_root, ann_file),
            osp.join(data_root, data_prefix.get('img', ''))
        ], auto_generate, generate_cfg)
        super().__init__(
            data_root=data_root,
            ann_file=ann_file,
            data_prefix=data_prefix,
            **kwargs)
