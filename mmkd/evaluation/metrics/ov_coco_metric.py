# Copyright (c) mmkd contributors. All rights reserved.
"""COCO AP50 over the base, novel and all classes of an open-vocabulary
detection benchmark."""
import tempfile
from collections import OrderedDict
from typing import Dict, Optional, Sequence

import numpy as np
from mmdet.datasets.api_wrappers import COCO, COCOeval
from mmdet.evaluation.metrics import CocoMetric
from mmengine.fileio import load
from mmengine.logging import MMLogger
from terminaltables import AsciiTable

from mmkd.registry import METRICS

GROUPS = ('base', 'novel', 'all')


@METRICS.register_module()
class OVCocoMetric(CocoMetric):
    """AP50 of base, novel and all classes, with pycocotools' COCOeval.

    One COCOeval run (IoU 0.5, all areas, ``max_dets`` detections per
    image) gives each class's AP50 (the mean precision over COCO's 101
    recall points); a group's AP50 is the mean over its classes that have
    ground truth, which is what COCOeval reports when restricted to the
    group's categories. Keys (fractions in [0, 1], unrounded, as mmdet's
    ``CocoMetric`` reports AP; ``coco/`` prefixed by default):

    - ``{metric}_AP50_base``, ``{metric}_AP50_novel``, ``{metric}_AP50_all``
    - with ``classwise``: ``{metric}_AP50_{class}`` for every class.

    A group without ground truth in the annotations scores NaN, and the
    classes without ground truth are logged.

    The classes are the dataset's ``classes`` (all of them); which are base
    and novel comes from ``base_classes`` / ``novel_classes``, or else from
    the dataset's metainfo (``mmkd.OVCocoDataset`` and
    ``mmkd.OVDigitScenesDetDataset`` carry them). Every class must be one
    of the two, and name one category of the annotation file, in the
    file's order (the order mmdet labels them in).

    Args:
        ann_file (str, optional): COCO json of the val split with all
            classes (e.g. the ``*_ov_all.json`` of
            ``tools/dataset_converters/ov_split.py``). None converts the
            ground truth of the samples.
        metric (str): ``'bbox'`` or ``'segm'``. Defaults to ``'bbox'``.
        max_dets (int): Detections per image that count (the highest
            scored). Defaults to 100 (COCO's); OADP evaluates 300.
        base_classes (Sequence[str], optional): Overrides the dataset's.
        novel_classes (Sequence[str], optional): Overrides the dataset's.
        classwise (bool): Also report each class's AP50. Defaults to False.
        **kwargs: Passed to :class:`mmdet.evaluation.CocoMetric`
            (``outfile_prefix``, ``format_only``, ``prefix``, ...).
    """

    def __init__(self,
                 ann_file: Optional[str] = None,
                 metric: str = 'bbox',
                 max_dets: int = 100,
                 base_classes: Optional[Sequence[str]] = None,
                 novel_classes: Optional[Sequence[str]] = None,
                 classwise: bool = False,
                 **kwargs) -> None:
        if metric not in ('bbox', 'segm'):
            raise ValueError(
                f"OVCocoMetric: metric must be 'bbox' or 'segm', got "
                f'{metric!r}')
        if not isinstance(max_dets, int) or max_dets < 1:
            raise ValueError('OVCocoMetric: max_dets must be an int >= 1, '
                             f'got {max_dets!r}')
        for key in ('proposal_nums', 'iou_thrs', 'metric_items'):
            if key in kwargs:
                raise ValueError(
                    f'OVCocoMetric: {key} is not used (AP50 at max_dets '
                    'detections per image); remove it')
        super().__init__(
            ann_file=ann_file,
            metric=metric,
            classwise=classwise,
            proposal_nums=(max_dets, ),
            iou_thrs=[0.5],
            **kwargs)
        self.max_dets = max_dets
        self.base_classes = base_classes
        self.novel_classes = novel_classes

    def _class_groups(self) -> Dict[str, tuple]:
        """``base``, ``novel`` and ``all`` class names, checked."""
        meta = self.dataset_meta or {}
        classes = tuple(meta.get('classes', ()))
        groups = {}
        for group, given in (('base', self.base_classes),
                             ('novel', self.novel_classes)):
            names = given if given is not None else meta.get(
                f'{group}_classes')
            if names is None:
                raise ValueError(
                    f'OVCocoMetric: no {group}_classes: give them to the '
                    'metric or evaluate an OV dataset whose metainfo names '
                    f'them (dataset_meta keys: {sorted(meta)})')
            groups[group] = tuple(names)
        named = groups['base'] + groups['novel']
        twice = sorted({c for c in named if named.count(c) > 1})
        unsplit = [c for c in classes if c not in named]
        unknown = [c for c in named if c not in classes]
        if twice or unsplit or unknown:
            raise ValueError(
                'OVCocoMetric: base_classes + novel_classes must split the '
                f'classes {classes}: {unsplit} are neither base nor novel, '
                f'{unknown} are not among the classes, {twice} are named '
                'twice')
        groups['all'] = classes
        return groups

    def _check_categories(self, classes: Sequence[str]) -> None:
        """Every class names one category, in the file's order."""
        cats = self._coco_api.dataset['categories']
        names = [c['name'] for c in cats]
        missing = [c for c in classes if names.count(c) != 1]
        order = [n for n in names if n in set(classes)]
        if missing or order != list(classes):
            raise ValueError(
                'OVCocoMetric: the classes must each name one category of '
                f'the annotations, in their order (mmdet labels them so); '
                f'classes {list(classes)}, categories {names}; missing or '
                f'repeated: {missing}')

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """AP50 of each group (and class) from the processed results.

        Args:
            results (list): ``(gt, prediction)`` pairs of :meth:`process`.

        Returns:
            dict[str, float]: See the class docstring for the keys.
        """
        logger = MMLogger.get_current_instance()
        groups = self._class_groups()
        gts, preds = zip(*results)
        tmp_dir = None
        if self.outfile_prefix is None:
            tmp_dir = tempfile.TemporaryDirectory()
            outfile_prefix = f'{tmp_dir.name}/results'
        else:
            outfile_prefix = self.outfile_prefix
        try:
            if self._coco_api is None:
                self._coco_api = COCO(
                    self.gt_to_coco_json(
                        gt_dicts=gts, outfile_prefix=outfile_prefix))
            self._check_categories(groups['all'])
            self.cat_ids = self._coco_api.get_cat_ids(cat_names=groups['all'])
            self.img_ids = self._coco_api.get_img_ids()
            result_files = self.results2json(preds, outfile_prefix)
            if self.format_only:
                return OrderedDict()
            ap50 = self._ap50_per_class(result_files, groups['all'])
        finally:
            if tmp_dir is not None:
                tmp_dir.cleanup()

        no_gt = [c for c in groups['all'] if np.isnan(ap50[c])]
        if no_gt:
            logger.warning(f'OVCocoMetric: classes {no_gt} have no ground '
                           'truth and count in no AP50')
        eval_results = OrderedDict()
        for group in GROUPS:
            scores = [ap50[c] for c in groups[group] if not np.isnan(ap50[c])]
            eval_results[f'{self.metrics[0]}_AP50_{group}'] = float(
                np.mean(scores)) if scores else float('nan')
        table = [['class', 'group', f'AP50@{self.max_dets}']]
        for c in groups['all']:
            group = 'base' if c in groups['base'] else 'novel'
            table.append([c, group, f'{ap50[c]:.4f}'])
            if self.classwise:
                eval_results[f'{self.metrics[0]}_AP50_{c}'] = ap50[c]
        logger.info('\n' + AsciiTable(table).table)
        logger.info(', '.join(f'{k}: {v:.4f}' for k, v in eval_results.items()
                              if k.rsplit('_', 1)[-1] in GROUPS))
        return eval_results

    def _ap50_per_class(self, result_files: dict,
                        classes: Sequence[str]) -> Dict[str, float]:
        metric = self.metrics[0]
        predictions = load(result_files[metric])
        if not predictions:
            # loadRes refuses an empty list: nothing detected scores 0
            logger = MMLogger.get_current_instance()
            logger.warning('OVCocoMetric: no detections at all')
            return {
                c:
                0.0 if self._coco_api.get_ann_ids(
                    cat_ids=[cat_id]) else float('nan')
                for c, cat_id in zip(classes, self.cat_ids)
            }
        if metric == 'segm':
            # with boxes loadRes would take the box area as the instance's
            for pred in predictions:
                pred.pop('bbox')
        coco_eval = COCOeval(self._coco_api,
                             self._coco_api.loadRes(predictions), metric)
        coco_eval.params.catIds = self.cat_ids
        coco_eval.params.imgIds = self.img_ids
        coco_eval.params.maxDets = [self.max_dets]
        coco_eval.params.iouThrs = np.array([0.5])
        coco_eval.evaluate()
        coco_eval.accumulate()
        # precision: (iou, recall, class, area range, max dets); -1 where
        # a class has no ground truth
        precision = coco_eval.eval['precision'][0, :, :, 0, 0]
        ap50 = {}
        for k, c in enumerate(classes):
            valid = precision[:, k][precision[:, k] > -1]
            ap50[c] = float(valid.mean()) if valid.size else float('nan')
        return ap50
