# Copyright (c) mmkd contributors. All rights reserved.
"""Open-vocabulary COCO-format datasets whose split is checked at build.

mmdet's ``CocoDataset`` keeps the annotations of ``metainfo.classes`` and
drops the others without a word, and numbers the classes in the file's
category order whatever the order of ``metainfo.classes``. An OV dataset
names all its classes and which are base and novel, and refuses a file
that would be read otherwise than it says.
"""
import os.path as osp
from collections import Counter
from typing import Optional

from mmdet.datasets import CocoDataset, LVISV1Dataset
from mmengine.dist import barrier, get_rank

from mmkd.registry import DATASETS
from ..digit_scenes.datasets import (DEFAULT_ROOT, DigitScenesDetDataset,
                                     prepare_digit_scenes)
from ..digit_scenes.generate import DIGIT_SCENES_CLASSES, SPLITS
from .split import (DIGIT_SCENES_BASE_CLASSES, DIGIT_SCENES_NOVEL_CLASSES,
                    OV_COCO_BASE_CLASSES, OV_COCO_CLASSES,
                    OV_COCO_NOVEL_CLASSES, category_ids, check_class_split,
                    read_ov_split_info, sha1_of, split_file_names,
                    write_ov_splits)

_TOOL = 'tools/dataset_converters/ov_split.py'


class OVDatasetMixin:
    """Checks of an open-vocabulary COCO-format dataset.

    ``metainfo`` must name ``base_classes`` and ``novel_classes``, which
    split ``classes`` exactly. At build time, the annotation file must
    have one category per class, in the order of ``classes`` (the label
    order), no annotation of a category outside ``classes`` and, with
    ``check_no_novel``, none of a novel class. A split file's
    ``info['ov_split']`` (written by ``tools/dataset_converters/
    ov_split.py``) must name the same base and novel classes.

    Args:
        check_no_novel (bool, optional): Refuse novel-class annotations.
            None (default) refuses them in training sets (``test_mode``
            False) only; set False for a training set with novel labels
            on purpose (an oracle).
        **kwargs: Passed to the dataset.
    """

    def __init__(self,
                 *args,
                 check_no_novel: Optional[bool] = None,
                 **kwargs) -> None:
        if check_no_novel is None:
            check_no_novel = not kwargs.get('test_mode', False)
        self.check_no_novel = check_no_novel
        super().__init__(*args, **kwargs)

    @property
    def base_classes(self) -> tuple:
        return tuple(self.metainfo['base_classes'])

    @property
    def novel_classes(self) -> tuple:
        return tuple(self.metainfo['novel_classes'])

    def _check_metainfo(self) -> None:
        name = type(self).__name__
        missing = [
            k for k in ('base_classes', 'novel_classes')
            if self.metainfo.get(k) is None
        ]
        if missing:
            raise ValueError(f'{name}: metainfo must name {missing} (the '
                             f'classes are {tuple(self.metainfo["classes"])})')
        check_class_split(self.base_classes, self.novel_classes,
                          self.metainfo['classes'], f'{name} metainfo')

    def load_data_list(self) -> list:
        self._check_metainfo()
        self._ov_counts = None
        data_list = super().load_data_list()
        if self._ov_counts is not None:
            self._check_annotations()
        return data_list

    def parse_data_info(self, raw_data_info: dict):
        # the raw annotations of each image pass here before mmdet drops
        # those of other categories; self.coco exists until the list is built
        if self._ov_counts is None:
            self._check_categories(self.coco.dataset)
            self._ov_counts = Counter()
        self._ov_counts.update(ann['category_id']
                               for ann in raw_data_info['raw_ann_info'])
        return super().parse_data_info(raw_data_info)

    def _check_categories(self, coco: dict) -> None:
        name, classes = type(self).__name__, list(self.metainfo['classes'])
        try:
            category_ids(coco, classes, self.ann_file)
        except ValueError as e:
            raise ValueError(
                f'{name}: {e}; metainfo.classes are {classes}') from None
        order = [c['name'] for c in coco['categories'] if c['name'] in classes]
        if order != classes:
            raise ValueError(
                f'{name}: {self.ann_file} lists the classes in the order '
                f'{order}, metainfo.classes in the order {classes}; mmdet '
                'labels them in the file\'s order, so list metainfo.classes '
                'in that order')
        self._ov_id2name = {c['id']: c['name'] for c in coco['categories']}
        split = (coco.get('info') or {}).get('ov_split')
        if split is not None:
            ours = dict(
                base_classes=list(self.base_classes),
                novel_classes=list(self.novel_classes))
            theirs = {k: list(split.get(k, ())) for k in ours}
            if theirs != ours:
                raise ValueError(
                    f'{name}: {self.ann_file} was split with base classes '
                    f'{theirs["base_classes"]} and novel classes '
                    f'{theirs["novel_classes"]}, metainfo names '
                    f'{ours["base_classes"]} and {ours["novel_classes"]}; '
                    f'rewrite the split with {_TOOL}')

    def _check_annotations(self) -> None:
        name, classes = type(self).__name__, set(self.metainfo['classes'])
        counts = Counter()
        for cat_id, num in self._ov_counts.items():
            counts[self._ov_id2name.get(cat_id, f'id {cat_id}')] += num
        outside = {c: k for c, k in sorted(counts.items()) if c not in classes}
        if outside:
            raise ValueError(
                f'{name}: {self.ann_file} has annotations of categories '
                f'outside metainfo.classes, which mmdet would drop without '
                f'a word: {outside}. Write an OV split with {_TOOL}')
        novel = {c: counts[c] for c in self.novel_classes if counts[c]}
        if self.check_no_novel and novel:
            found = ', '.join(f'{k} of class {c!r}' for c, k in novel.items())
            raise ValueError(
                f'{name}: the open-vocabulary training set {self.ann_file} '
                f'has annotations of novel classes: {found}. Train on the '
                f'base split written by {_TOOL}, or set '
                'check_no_novel=False for a set with novel labels on '
                'purpose (an oracle)')


def _ov_coco_palette() -> list:
    coco = CocoDataset.METAINFO
    return [
        p for c, p in zip(coco['classes'], coco['palette'])
        if c in OV_COCO_CLASSES
    ]


@DATASETS.register_module()
class OVCocoDataset(OVDatasetMixin, CocoDataset):
    """OV-COCO 48/17: COCO's 65 OV classes, 48 base and 17 novel.

    Reads the splits written by ``tools/dataset_converters/ov_split.py
    coco`` (``annotations/instances_train2017_ov_base.json``,
    ``instances_val2017_ov_all.json``); see :class:`OVDatasetMixin` for the
    checks and ``check_no_novel``.
    """
    METAINFO = dict(
        classes=OV_COCO_CLASSES,
        base_classes=OV_COCO_BASE_CLASSES,
        novel_classes=OV_COCO_NOVEL_CLASSES,
        palette=_ov_coco_palette())


@DATASETS.register_module()
class OVLVISV1Dataset(OVDatasetMixin, CocoDataset):
    """OV-LVIS 866/337: LVIS v1's 1203 classes, the frequent and common
    ones base, the rare ones novel.

    Reads the splits written by ``tools/dataset_converters/ov_split.py
    lvis`` (``annotations/lvis_v1_train_ov_base.json``,
    ``lvis_v1_val_ov_all.json``). Which classes are base and novel comes
    from the file's ``info['ov_split']`` unless ``metainfo`` names them
    (the frequencies are LVIS's, not mmdet's metainfo). Images are read
    as mmdet's ``LVISV1Dataset`` reads them (the path of their
    ``coco_url``), with mmdet's COCO API: the ``lvis`` package is not
    needed to load (``LVISMetric`` needs it to evaluate). See
    :class:`OVDatasetMixin` for the checks and ``check_no_novel``.
    """
    METAINFO = dict(
        classes=LVISV1Dataset.METAINFO['classes'],
        palette=LVISV1Dataset.METAINFO['palette'])

    def _check_metainfo(self) -> None:
        # without base / novel classes in metainfo, the file's split names
        # them (checked with the file's categories)
        if self.metainfo.get('base_classes') is not None or \
                self.metainfo.get('novel_classes') is not None:
            super()._check_metainfo()

    def _check_categories(self, coco: dict) -> None:
        if self.metainfo.get('base_classes') is None and \
                self.metainfo.get('novel_classes') is None:
            split = (coco.get('info') or {}).get('ov_split')
            if split is None:
                raise ValueError(
                    f'{type(self).__name__}: {self.ann_file} records no OV '
                    'split (info.ov_split) and metainfo names no '
                    f'base_classes / novel_classes; write it with {_TOOL} '
                    'lvis')
            self._metainfo.update(
                base_classes=tuple(split.get('base_classes', ())),
                novel_classes=tuple(split.get('novel_classes', ())))
            super()._check_metainfo()
        super()._check_categories(coco)

    def parse_data_info(self, raw_data_info: dict):
        img = raw_data_info['raw_img_info']
        if 'file_name' not in img and 'coco_url' in img:
            # LVIS v1 names the image by its COCO url, e.g.
            # http://images.cocodataset.org/train2017/000000391895.jpg
            img['file_name'] = img['coco_url'].replace(
                'http://images.cocodataset.org/', '')
        return super().parse_data_info(raw_data_info)


def prepare_digit_scenes_ov_split(data_root: str, base_classes,
                                  novel_classes) -> dict:
    """Write the OV split of a generated DigitScenes unless it is there.

    The split files are rewritten when missing, when their source json
    changed (the data were regenerated) or when they split other classes.

    Args:
        data_root (str): DigitScenes root, with
            ``annotations/instances_{train,val}.json``.
        base_classes (Sequence[str]): Base class names.
        novel_classes (Sequence[str]): Novel class names.

    Returns:
        dict: Paths of the ``train``, ``val`` and ``meta`` split files.
    """
    ann_dir = osp.join(data_root, 'annotations')
    sources = [osp.join(ann_dir, f'instances_{s}.json') for s in SPLITS]
    names = split_file_names(*sources, ann_dir)
    want = dict(
        base_classes=list(base_classes), novel_classes=list(novel_classes))
    for split, src in zip(SPLITS, sources):
        info = read_ov_split_info(names[split]) or {}
        have = {k: info.get(k) for k in want}
        if have != want or info.get('source_sha1') != sha1_of(src) or \
                not osp.isfile(names['meta']):
            write_ov_splits(*sources, base_classes, novel_classes, ann_dir)
            break
    return names


@DATASETS.register_module()
class OVDigitScenesDetDataset(OVDatasetMixin, DigitScenesDetDataset):
    """Open-vocabulary DigitScenes: digits 0-6 base, 7-9 novel.

    Generates DigitScenes on first use as :class:`DigitScenesDetDataset`
    does, then writes its OV split (``annotations/
    instances_train_ov_base.json``: base annotations, all images;
    ``instances_val_ov_all.json``: all annotations; ``ov_split.json``)
    unless it is there and up to date, following ``metainfo``'s
    ``base_classes`` / ``novel_classes``. See :class:`OVDatasetMixin` for
    the checks and ``check_no_novel``.

    Args:
        data_root (str): Dataset root. Defaults to ``'data/digit_scenes'``.
        ann_file (str): Defaults to the train split,
            ``'annotations/instances_train_ov_base.json'``.
        data_prefix (dict, optional): Defaults to
            ``dict(img='img_dir/train/')``.
        auto_generate (bool, optional): See :class:`DigitScenesDataset`.
        generate_cfg (dict, optional): See :class:`DigitScenesDataset`;
            ``img_size=448`` gives canvases on which OAKE's 224 px windows
            fit at more than one position.
        metainfo (dict, optional): Overrides :attr:`METAINFO`.
        **kwargs: Passed to :class:`DigitScenesDetDataset`.
    """
    METAINFO = dict(
        DigitScenesDetDataset.METAINFO,
        base_classes=DIGIT_SCENES_BASE_CLASSES,
        novel_classes=DIGIT_SCENES_NOVEL_CLASSES)

    def __init__(self,
                 data_root: str = DEFAULT_ROOT,
                 ann_file: str = 'annotations/instances_train_ov_base.json',
                 data_prefix: Optional[dict] = None,
                 auto_generate: Optional[bool] = None,
                 generate_cfg: Optional[dict] = None,
                 metainfo: Optional[dict] = None,
                 **kwargs) -> None:
        if data_prefix is None:
            data_prefix = dict(img='img_dir/train/')
        meta = self._load_metainfo(metainfo)
        check_class_split(
            meta.get('base_classes', ()), meta.get('novel_classes', ()),
            DIGIT_SCENES_CLASSES[1:], f'{type(self).__name__} metainfo')
        sources = [
            osp.join(data_root, 'annotations', f'instances_{s}.json')
            for s in SPLITS
        ]
        prepare_digit_scenes(
            data_root,
            sources + [osp.join(data_root, data_prefix.get('img', ''))],
            auto_generate, generate_cfg)
        try:
            if get_rank() == 0:
                prepare_digit_scenes_ov_split(data_root, meta['base_classes'],
                                              meta['novel_classes'])
        finally:
            barrier()
        path = osp.join(data_root, ann_file)
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'{type(self).__name__}: ann_file {path!r} does not exist; '
                f'the OV split of {data_root!r} is in '
                f'{osp.join(data_root, "annotations")}/'
                'instances_{train_ov_base,val_ov_all}.json')
        super().__init__(
            data_root=data_root,
            ann_file=ann_file,
            data_prefix=data_prefix,
            auto_generate=auto_generate,
            generate_cfg=generate_cfg,
            metainfo=metainfo,
            **kwargs)
