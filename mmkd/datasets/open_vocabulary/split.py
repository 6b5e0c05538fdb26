# Copyright (c) mmkd contributors. All rights reserved.
"""Open-vocabulary splits of COCO-format annotation files.

An open-vocabulary (OV) detector is trained on the annotations of the base
classes only and evaluated on base and novel classes. The split is written
to explicit files, never left to a dataset's ``metainfo.classes`` (mmdet's
``CocoDataset`` drops the annotations of classes outside it without a
word):

- train: the base-class annotations; every image is kept, also those left
  without annotations (novel objects stay in the pixels, unannotated);
- val: the annotations of all OV classes (base + novel).

Both files list the categories of all OV classes, in the source file's
order, so that train and val give a class the same label; both record the
split in ``info['ov_split']``, which the OV datasets check.
"""
import hashlib
import json
import os
import os.path as osp
from collections import Counter
from typing import Dict, Optional, Sequence, Tuple

#: DigitScenes: digits 0-6 are base classes, 7-9 novel (issue 18)
DIGIT_SCENES_BASE_CLASSES = ('0', '1', '2', '3', '4', '5', '6')
DIGIT_SCENES_NOVEL_CLASSES = ('7', '8', '9')

# OV-COCO 48/17: the split of Bansal et al., "Zero-Shot Object Detection"
# (ECCV 2018), as used by OVR-CNN (Zareian et al., CVPR 2021), ViLD (Gu et
# al., ICLR 2022) and OADP (Wang et al., CVPR 2023): 48 base and 17 novel
# of the 80 COCO classes; the other 15 are in neither set and dropped from
# both splits. Names as in COCO 2017's instances_*2017.json, in its order.
OV_COCO_BASE_CLASSES = ('person', 'bicycle', 'car', 'motorcycle', 'train',
                        'truck', 'boat', 'bench', 'bird', 'horse', 'sheep',
                        'bear', 'zebra', 'giraffe', 'backpack', 'handbag',
                        'suitcase', 'frisbee', 'skis', 'kite', 'surfboard',
                        'bottle', 'fork', 'spoon', 'bowl', 'banana', 'apple',
                        'sandwich', 'orange', 'broccoli', 'carrot', 'pizza',
                        'donut', 'chair', 'bed', 'toilet', 'tv', 'laptop',
                        'mouse', 'remote', 'microwave', 'oven', 'toaster',
                        'refrigerator', 'book', 'clock', 'vase', 'toothbrush')
OV_COCO_NOVEL_CLASSES = ('airplane', 'bus', 'cat', 'dog', 'cow', 'elephant',
                         'umbrella', 'tie', 'snowboard', 'skateboard', 'cup',
                         'knife', 'cake', 'couch', 'keyboard', 'sink',
                         'scissors')
#: the 65 OV-COCO classes in COCO's category order (the label order)
OV_COCO_CLASSES = ('person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus',
                   'train', 'truck', 'boat', 'bench', 'bird', 'cat', 'dog',
                   'horse', 'sheep', 'cow', 'elephant', 'bear', 'zebra',
                   'giraffe', 'backpack', 'umbrella', 'handbag', 'tie',
                   'suitcase', 'frisbee', 'skis', 'snowboard', 'kite',
                   'skateboard', 'surfboard', 'bottle', 'cup', 'fork', 'knife',
                   'spoon', 'bowl', 'banana', 'apple', 'sandwich', 'orange',
                   'broccoli', 'carrot', 'pizza', 'donut', 'cake', 'chair',
                   'couch', 'bed', 'toilet', 'tv', 'laptop', 'mouse', 'remote',
                   'keyboard', 'microwave', 'oven', 'toaster', 'sink',
                   'refrigerator', 'book', 'clock', 'vase', 'scissors',
                   'toothbrush')

#: what each split keeps: train the base classes, val all OV classes
SPLIT_ANNOTATIONS = dict(train='base', val='all')


def check_class_split(base_classes: Sequence[str],
                      novel_classes: Sequence[str],
                      classes: Optional[Sequence[str]] = None,
                      where: str = '') -> None:
    """Check that base and novel classes are disjoint, without repeats and,
    given ``classes``, split exactly those.

    Args:
        base_classes (Sequence[str]): Base class names.
        novel_classes (Sequence[str]): Novel class names.
        classes (Sequence[str], optional): All class names.
        where (str): What the names come from, for the error.

    Raises:
        ValueError: Naming the classes at fault.
    """
    prefix = f'{where}: ' if where else ''
    for name, names in (('base_classes', base_classes), ('novel_classes',
                                                         novel_classes)):
        if isinstance(names, str) or not len(names):
            raise ValueError(f'{prefix}{name} must be a non-empty sequence '
                             f'of class names, got {names!r}')
        repeats = sorted(n for n, k in Counter(names).items() if k > 1)
        if repeats:
            raise ValueError(f'{prefix}{name} repeats {repeats}')
    both = sorted(set(base_classes) & set(novel_classes))
    if both:
        raise ValueError(f'{prefix}classes {both} are both base and novel')
    if classes is None:
        return
    split = set(base_classes) | set(novel_classes)
    unsplit = [c for c in classes if c not in split]
    unknown = sorted(split - set(classes))
    if unsplit or unknown:
        raise ValueError(
            f'{prefix}base_classes + novel_classes must be the classes '
            f'{tuple(classes)}: {unsplit} are neither base nor novel, '
            f'{unknown} are not among the classes')


def sha1_of(path: str) -> str:
    """The SHA-1 of a file's bytes, to tell a split from a stale one."""
    digest = hashlib.sha1()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def category_ids(coco: dict, names: Sequence[str],
                 source: str) -> Dict[str, int]:
    """Map class names to the category ids of a COCO dict.

    Args:
        coco (dict): A COCO-format annotation dict.
        names (Sequence[str]): Class names that must each name exactly one
            category.
        source (str): The file ``coco`` was read from, for the error.

    Returns:
        dict[str, int]: name -> category id.

    Raises:
        ValueError: If a name names no category or several.
    """
    ids = {}
    for cat in coco.get('categories', []):
        ids.setdefault(cat['name'], []).append(cat['id'])
    missing = [n for n in names if n not in ids]
    repeated = [n for n in names if len(ids.get(n, ())) > 1]
    if missing or repeated:
        raise ValueError(f'{source}: the categories {missing} are missing and '
                         f'{repeated} appear more than once (categories: '
                         f'{sorted(ids)})')
    return {n: ids[n][0] for n in names}


def split_coco(coco: dict,
               base_classes: Sequence[str],
               novel_classes: Sequence[str],
               annotations: str,
               source: str = '<dict>') -> Tuple[dict, Dict[str, int]]:
    """One OV split of a COCO-format dict.

    Args:
        coco (dict): The source, with ``images``, ``annotations`` and
            ``categories``; not modified.
        base_classes (Sequence[str]): Base class names.
        novel_classes (Sequence[str]): Novel class names.
        annotations (str): ``'base'`` keeps the base-class annotations
            (train), ``'all'`` those of base and novel classes (val).
        source (str): The file ``coco`` was read from: named in errors and
            recorded in ``info['ov_split']['source']``.

    Returns:
        tuple[dict, dict[str, int]]: The split (all images, the categories
        of base and novel classes in the source's order, the kept
        annotations) and the number of annotations removed per category
        name.
    """
    if annotations not in ('base', 'all'):
        raise ValueError(
            f"annotations must be 'base' or 'all', got {annotations!r}")
    check_class_split(base_classes, novel_classes, where=source)
    ov_ids = category_ids(coco,
                          tuple(base_classes) + tuple(novel_classes), source)
    kept_names = base_classes if annotations == 'base' else ov_ids
    kept_ids = {ov_ids[n] for n in kept_names}
    id2name = {c['id']: c['name'] for c in coco['categories']}
    kept, removed = [], Counter()
    for ann in coco['annotations']:
        if ann['category_id'] in kept_ids:
            kept.append(ann)
        else:
            removed[id2name.get(ann['category_id'],
                                f'id {ann["category_id"]}')] += 1
    info = dict(coco.get('info') or {})
    info['ov_split'] = dict(
        annotations=annotations,
        base_classes=list(base_classes),
        novel_classes=list(novel_classes),
        source=osp.basename(source))
    out = {k: v for k, v in coco.items() if k not in ('info', )}
    out.update(
        info=info,
        annotations=kept,
        categories=[
            c for c in coco['categories'] if c['id'] in set(ov_ids.values())
        ])
    return out, dict(sorted(removed.items()))


def write_ov_split(src: str,
                   dst: str,
                   base_classes: Sequence[str],
                   novel_classes: Sequence[str],
                   annotations: str = 'base') -> dict:
    """Write one OV split of a COCO json file.

    The split records the SHA-1 of ``src`` (``info['ov_split']
    ['source_sha1']``), so that a split of an older source can be told.

    Args:
        src (str): COCO-format json to split.
        dst (str): Output json; its folder is created.
        base_classes (Sequence[str]): Base class names.
        novel_classes (Sequence[str]): Novel class names.
        annotations (str): ``'base'`` (train) or ``'all'`` (val).

    Returns:
        dict: A summary: ``file``, ``source``, ``num_images``,
        ``num_annotations`` and ``removed`` (per category name).
    """
    with open(src) as f:
        coco = json.load(f)
    out, removed = split_coco(coco, base_classes, novel_classes, annotations,
                              src)
    out['info']['ov_split']['source_sha1'] = sha1_of(src)
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    tmp = dst + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(out, f)
    os.replace(tmp, dst)  # a half-written split must not look complete
    return dict(
        file=dst,
        source=src,
        annotations=annotations,
        num_images=len(out['images']),
        num_annotations=len(out['annotations']),
        removed=removed)


def split_file_names(train_json: str, val_json: str,
                     out_dir: str) -> Dict[str, str]:
    """Paths of the split files of ``train_json`` / ``val_json``.

    ``<stem>_ov_base.json`` for train, ``<stem>_ov_all.json`` for val and
    ``ov_split.json`` (the split's summary), all in ``out_dir``.
    """

    def named(src, tag):
        stem = osp.splitext(osp.basename(src))[0]
        return osp.join(out_dir, f'{stem}_ov_{tag}.json')

    return dict(
        train=named(train_json, 'base'),
        val=named(val_json, 'all'),
        meta=osp.join(out_dir, 'ov_split.json'))


def write_ov_splits(train_json: str,
                    val_json: str,
                    base_classes: Sequence[str],
                    novel_classes: Sequence[str],
                    out_dir: Optional[str] = None) -> dict:
    """Write the train (base) and val (all) splits and their summary.

    Args:
        train_json (str): COCO-format train annotations.
        val_json (str): COCO-format val annotations.
        base_classes (Sequence[str]): Base class names.
        novel_classes (Sequence[str]): Novel class names.
        out_dir (str, optional): Output folder. Defaults to the folder of
            ``train_json``.

    Returns:
        dict: The summary written to ``out_dir/ov_split.json``: ``classes``
        (base + novel, in the label order), ``base_classes``,
        ``novel_classes``, their category ids ``base_ids`` / ``novel_ids``
        and per split what :func:`write_ov_split` returns. Paths in it are
        relative to ``out_dir``.
    """
    out_dir = out_dir or osp.dirname(osp.abspath(train_json))
    names = split_file_names(train_json, val_json, out_dir)
    splits = {}
    for split, src in (('train', train_json), ('val', val_json)):
        splits[split] = write_ov_split(src, names[split], base_classes,
                                       novel_classes, SPLIT_ANNOTATIONS[split])
    with open(names['val']) as f:
        categories = json.load(f)['categories']
    ids = {c['name']: c['id'] for c in categories}
    for summary in splits.values():
        for key in ('file', 'source'):
            summary[key] = osp.relpath(summary[key], out_dir)
    meta = dict(
        classes=[c['name'] for c in categories],
        base_classes=list(base_classes),
        novel_classes=list(novel_classes),
        base_ids=[ids[n] for n in base_classes],
        novel_ids=[ids[n] for n in novel_classes],
        **splits)
    with open(names['meta'], 'w') as f:
        json.dump(meta, f, indent=2)
    return meta


def read_ov_split_info(path: str) -> Optional[dict]:
    """``info['ov_split']`` of a split file, None if it has none (or the
    file does not exist)."""
    if not osp.isfile(path):
        return None
    with open(path) as f:
        coco = json.load(f)
    return (coco.get('info') or {}).get('ov_split')


#: LVIS v1's frequency groups (``categories[i]['frequency']``): base are
#: the frequent and common classes (866), novel the rare ones (337), the
#: split of ViLD, DetPro and OADP
LVIS_BASE_FREQUENCIES = ('f', 'c')
LVIS_NOVEL_FREQUENCIES = ('r', )


def lvis_frequency_split(path: str) -> Tuple[tuple, tuple]:
    """OV-LVIS's base (frequent, common) and novel (rare) classes of an
    LVIS annotation file, in its category order.

    Args:
        path (str): An LVIS json (``lvis_v1_train.json``).

    Returns:
        tuple[tuple, tuple]: Base and novel class names.
    """
    with open(path) as f:
        categories = json.load(f).get('categories', [])
    groups = LVIS_BASE_FREQUENCIES + LVIS_NOVEL_FREQUENCIES
    odd = [(c.get('name'), c.get('frequency')) for c in categories
           if c.get('frequency') not in groups]
    if odd or not categories:
        raise ValueError(
            f'{path}: LVIS categories have a frequency in {groups}; '
            f'{odd[:5] if odd else "no categories"}'
            f'{" ..." if len(odd) > 5 else ""} (an LVIS v1 annotation file '
            'is needed to split by frequency)')
    base = tuple(c['name'] for c in categories
                 if c['frequency'] in LVIS_BASE_FREQUENCIES)
    novel = tuple(c['name'] for c in categories
                  if c['frequency'] in LVIS_NOVEL_FREQUENCIES)
    return base, novel


def read_ov_split_summary(path: str) -> dict:
    """The classes of a split summary (``ov_split.json``, written by
    :func:`write_ov_splits`).

    Args:
        path (str): The summary file.

    Returns:
        dict: ``classes`` (label order), ``base_classes`` and
        ``novel_classes``, tuples of names.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'OV split summary {path!r} does not exist; write the split '
            'with tools/dataset_converters/ov_split.py')
    with open(path) as f:
        meta = json.load(f)
    keys = ('classes', 'base_classes', 'novel_classes')
    missing = [k for k in keys if not isinstance(meta.get(k), list)]
    if missing:
        raise KeyError(f'OV split summary {path!r} lacks {missing} (lists of '
                       'class names)')
    out = {k: tuple(meta[k]) for k in keys}
    check_class_split(out['base_classes'], out['novel_classes'],
                      out['classes'], path)
    return out
