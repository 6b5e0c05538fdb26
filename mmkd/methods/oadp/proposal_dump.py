# Copyright (c) mmkd contributors. All rights reserved.
"""Base-class proposals of a detector, for OAKE's object view.

OADP embeds class-agnostic proposals of a network trained on the base
classes only (official ``main``: OLN's R50-FPN boxes). Here any mmdet
``RPN`` or two-stage detector (its RPN) trained on an open-vocabulary
train split gives them: each image goes through the config's test
pipeline, the RPN's boxes are mapped back to the original image (divided
by the pipeline's ``scale_factor``) and written, with their objectness,
in the format of :mod:`.proposals`, keyed by the image's path relative to
``data_root`` (the record caches' key).

OLN's test settings are the defaults (:data:`OADP_PROPOSAL_SETTINGS`):
at most 2000 boxes per level before NMS, NMS at IoU 0.7 over all levels
(OLN scores one class-agnostic box per RoI), score threshold 0, 1500
proposals per image. Boxes are not filtered by size here: OAKE drops
those narrower or lower than 4 px when it embeds them.
"""
from typing import Callable, Dict, Mapping, Optional, Sequence

import numpy as np
import torch
from mmengine import fileio
from mmengine.dataset import pseudo_collate
from torch import nn
from torch.utils.data import DataLoader

from mmkd.utils.record_cache import record_key

__all__ = [
    'OADP_PROPOSAL_SETTINGS', 'check_base_class_detector', 'dataset_images',
    'dump_proposals', 'proposal_test_cfg', 'rpn_of', 'summary'
]

#: OLN's test settings (OADP's proposals): per image ``num_proposals``
#: boxes after NMS at ``nms_iou`` across levels (``nms_across_levels``) of
#: the ``nms_pre`` best of each level, scores >= ``score_thr``, boxes wider
#: and higher than ``min_size``
OADP_PROPOSAL_SETTINGS = dict(
    num_proposals=1500,
    nms_iou=0.7,
    nms_pre=2000,
    nms_across_levels=True,
    score_thr=0.0,
    min_size=0.0)


def proposal_test_cfg(rpn_cfg: Optional[Mapping] = None,
                      num_proposals: int = 1500,
                      nms_iou: float = 0.7,
                      nms_pre: int = 2000,
                      nms_across_levels: bool = True,
                      min_size: float = 0.0) -> dict:
    """An RPN's ``test_cfg`` with the dump's settings.

    Args:
        rpn_cfg (Mapping, optional): The config's ``test_cfg.rpn``; its
            other keys are kept.
        num_proposals (int): Boxes per image after NMS (``max_per_img``).
        nms_iou (float): NMS IoU threshold.
        nms_pre (int): Best boxes of each level before NMS.
        nms_across_levels (bool): One NMS over all levels (OLN's) instead
            of mmdet's per level.
        min_size (float): Boxes not wider and higher are dropped
            (``min_bbox_size``).

    Returns:
        dict: The RPN test config.
    """
    if int(num_proposals) < 1:
        raise ValueError(f'num_proposals must be >= 1, got {num_proposals}')
    if not 0 < nms_iou <= 1:
        raise ValueError(f'nms_iou must be in (0, 1], got {nms_iou}')
    cfg = dict(rpn_cfg or {})
    nms = dict(cfg.get('nms') or dict(type='nms'))
    nms.update(iou_threshold=float(nms_iou))
    if nms_across_levels:
        nms['class_agnostic'] = True
    else:
        nms.pop('class_agnostic', None)
    cfg.update(
        nms_pre=int(nms_pre),
        max_per_img=int(num_proposals),
        nms=nms,
        min_bbox_size=float(min_size))
    return cfg


def rpn_of(model: nn.Module) -> nn.Module:
    """The RPN head of an mmdet ``RPN`` or two-stage detector."""
    head = getattr(model, 'rpn_head', None)
    if head is None and type(model).__name__ == 'RPN':
        head = model.bbox_head
    if head is None:
        raise TypeError(f'{type(model).__name__} has no RPN: proposals come '
                        'from an mmdet RPN or two-stage detector')
    return head


def _names(value) -> Optional[tuple]:
    return None if value is None else tuple(value)


def check_base_class_detector(meta: Optional[Mapping], metainfo: Mapping,
                              checkpoint: str) -> None:
    """Check that a detector was trained on the split's base classes.

    The classes it learnt are its checkpoint's ``dataset_meta``
    ``base_classes`` (an open-vocabulary training set) or ``classes``
    (mmdet 2: ``CLASSES``); they must be the split's ``base_classes`` (or
    its ``classes`` when it names none): a detector that learnt novel
    classes would leak them into the teacher's objects.

    Args:
        meta (Mapping, optional): The checkpoint's ``meta``.
        metainfo (Mapping): The split's dataset ``metainfo``.
        checkpoint (str): The checkpoint's path, for the error.

    Raises:
        ValueError: Naming the checkpoint and both class lists.
    """
    meta = meta or {}
    dataset_meta = meta.get('dataset_meta') or {}
    learnt = _names(dataset_meta.get('base_classes')) or _names(
        dataset_meta.get('classes') or meta.get('CLASSES'))
    if learnt is None:
        raise ValueError(
            f'checkpoint {checkpoint!r} records no classes (meta.'
            'dataset_meta.classes): cannot tell that it was trained on the '
            'base classes only; pass --no-class-check to use it anyway')
    novel = _names(metainfo.get('novel_classes')) or ()
    base = _names(metainfo.get('base_classes')) or _names(
        metainfo.get('classes')) or ()
    leaked = [c for c in learnt if c in novel]
    if leaked or set(learnt) != set(base):
        missing = [c for c in base if c not in learnt]
        other = [c for c in learnt if c not in base and c not in novel]
        raise ValueError(
            f'checkpoint {checkpoint!r} was trained on the classes '
            f'{list(learnt)}, the split\'s base classes are {list(base)}: '
            f'novel classes {leaked}, base classes missing {missing}, '
            f'other classes {other}. Proposals come from a detector '
            'trained on the open-vocabulary train split (base classes '
            'only)')


def _check_meta(data_sample, img_path: str) -> dict:
    meta = data_sample.metainfo
    if meta.get('img_path') != img_path:
        raise RuntimeError(
            f'proposals: the loader gave {meta.get("img_path")!r}'
            f' where the dataset lists {img_path!r}')
    if meta.get('scale_factor') is None:
        raise KeyError(
            f'proposals: {img_path!r} has no scale_factor after the test '
            'pipeline; its PackDetInputs must keep scale_factor in '
            'meta_keys (boxes are mapped back to the original image)')
    if meta.get('flip'):
        raise ValueError(
            f'proposals: the test pipeline flipped {img_path!r}; proposals '
            'are boxes of the unflipped image (no RandomFlip)')
    return meta


def dataset_images(dataset, data_root: Optional[str] = None) -> tuple:
    """The image paths of a dataset and their keys, every file checked to
    exist.

    Args:
        dataset (Dataset): A built dataset.
        data_root (str, optional): Keys are paths relative to it.

    Returns:
        tuple[list[str], list[str]]: Paths and keys, in the dataset's order.
    """
    paths = [
        dataset.get_data_info(i).get('img_path') for i in range(len(dataset))
    ]
    if None in paths:
        raise KeyError('proposals: sample {} of the dataset has no '
                       'img_path'.format(paths.index(None)))
    keys = [record_key(p, data_root) for p in paths]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ValueError(f'proposals: images listed twice: {twice[:3]}')
    missing = [p for p in paths if not fileio.exists(p)]
    if missing:
        raise FileNotFoundError(
            f'proposals: {len(missing)} of the {len(paths)} images of the '
            f'dataset do not exist, e.g. {missing[:3]} (data_root '
            f'{data_root!r})')
    return paths, keys


def dump_proposals(
    model: nn.Module,
    dataset,
    data_root: Optional[str] = None,
    batch_size: int = 1,
    num_workers: int = 0,
    score_thr: float = 0.0,
    progress: Optional[Callable[[int, int], None]] = None
) -> Dict[str, np.ndarray]:
    """Proposals of a detector's RPN for every image of a dataset.

    Every image file is checked to exist before the first forward.

    Args:
        model (nn.Module): An mmdet ``RPN`` or two-stage detector whose
            RPN ``test_cfg`` holds the settings
            (:func:`proposal_test_cfg`), in eval mode.
        dataset (Dataset): The images, with a test pipeline (no flip;
            ``scale_factor`` and ``img_path`` in the packed metainfo).
        data_root (str, optional): Keys are image paths relative to it.
        batch_size (int): Images per forward.
        num_workers (int): Data loading workers.
        score_thr (float): Proposals scoring less are dropped.
        progress (callable, optional): Called with ``(done, total)``.

    Returns:
        dict[str, np.ndarray]: Per image key, float32 ``(N, 5)``: ``x1, y1,
        x2, y2`` in the original image's pixels and the objectness.
    """
    paths, keys = dataset_images(dataset, data_root)
    head = rpn_of(model)
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=pseudo_collate)
    out, done = {}, 0
    with torch.no_grad():
        for batch in loader:
            data = model.data_preprocessor(batch, False)
            samples = data['data_samples']
            for i, sample in enumerate(samples):
                _check_meta(sample, paths[done + i])
            feats = model.extract_feat(data['inputs'])
            # rescale: divided by scale_factor, the original image's pixels
            results = head.predict(feats, samples, rescale=True)
            for result in results:
                found = torch.cat(
                    [result.bboxes.reshape(-1, 4), result.scores[:, None]],
                    1).float()
                found = found[found[:, 4] >= score_thr]
                out[keys[done]] = found.cpu().numpy()
                done += 1
            if progress is not None:
                progress(done, len(paths))
    return out


def summary(proposals: Mapping[str, np.ndarray],
            settings: Mapping,
            sources: Sequence[str] = ()) -> dict:
    """A json-able account of a dump: settings, images, counts."""
    n = [len(v) for v in proposals.values()]
    return dict(
        settings=dict(settings),
        sources=list(sources),
        num_images=len(n),
        proposals_per_image=dict(
            min=min(n, default=0),
            max=max(n, default=0),
            mean=float(np.mean(n)) if n else 0.0))
