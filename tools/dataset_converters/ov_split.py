# Copyright (c) mmkd contributors. All rights reserved.
"""Write the open-vocabulary split of COCO-format annotations.

train: the base-class annotations, every image kept; val: the annotations of
all OV classes; both list the categories of all OV classes. The summary
``ov_split.json`` names the base and novel classes and their category ids.

Examples:
    # DigitScenes, digits 0-6 base, 7-9 novel (the OV datasets also write
    # it on first use)
    python tools/dataset_converters/ov_split.py digit-scenes \
        data/digit_scenes_ov
    # OV-COCO 48/17 from instances_{train,val}2017.json
    python tools/dataset_converters/ov_split.py coco data/coco
    # OV-LVIS 866/337 (frequent + common / rare, from the train file's
    # category frequencies) from lvis_v1_{train,val}.json
    python tools/dataset_converters/ov_split.py lvis data/lvis_v1
"""
import argparse
import os.path as osp

from mmkd.datasets.open_vocabulary.split import (DIGIT_SCENES_BASE_CLASSES,
                                                 DIGIT_SCENES_NOVEL_CLASSES,
                                                 OV_COCO_BASE_CLASSES,
                                                 OV_COCO_NOVEL_CLASSES,
                                                 lvis_frequency_split,
                                                 write_ov_splits)

#: preset -> (train json, val json under root/annotations, base, novel);
#: None: read from the train json (LVIS: its category frequencies)
PRESETS = {
    'digit-scenes': ('instances_train.json', 'instances_val.json',
                     DIGIT_SCENES_BASE_CLASSES, DIGIT_SCENES_NOVEL_CLASSES),
    'coco': ('instances_train2017.json', 'instances_val2017.json',
             OV_COCO_BASE_CLASSES, OV_COCO_NOVEL_CLASSES),
    'lvis': ('lvis_v1_train.json', 'lvis_v1_val.json', None, None),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Write the open-vocabulary split (train: base '
        'annotations; val: all) of COCO-format annotations.')
    parser.add_argument(
        'preset',
        choices=sorted(PRESETS),
        help='digit-scenes: digits 0-6 base, 7-9 novel; coco: OV-COCO '
        '48 base / 17 novel; lvis: OV-LVIS, frequent and common classes '
        'base (866), rare novel (337)')
    parser.add_argument(
        'root', help='dataset root, with the jsons in root/annotations')
    parser.add_argument(
        '--train-json',
        help='train annotations (default: the preset\'s '
        'file in root/annotations)')
    parser.add_argument(
        '--val-json',
        help='val annotations (default: the preset\'s file '
        'in root/annotations)')
    parser.add_argument(
        '--out-dir', help='output folder (default: root/annotations)')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    train_name, val_name, base, novel = PRESETS[args.preset]
    ann_dir = osp.join(args.root, 'annotations')
    train_json = args.train_json or osp.join(ann_dir, train_name)
    val_json = args.val_json or osp.join(ann_dir, val_name)
    for path in (train_json, val_json):
        if not osp.isfile(path):
            hint = (' (generate DigitScenes first: python tools/'
                    'dataset_converters/digit_scenes.py '
                    f'{args.root} --img-size 448)'
                    if args.preset == 'digit-scenes' else '')
            raise SystemExit(f'ov_split: {path} does not exist{hint}')
    if base is None:
        base, novel = lvis_frequency_split(train_json)
    out_dir = args.out_dir or ann_dir
    meta = write_ov_splits(train_json, val_json, base, novel, out_dir)
    print(f'{len(meta["base_classes"])} base classes: '
          f'{", ".join(meta["base_classes"])}')
    print(f'{len(meta["novel_classes"])} novel classes: '
          f'{", ".join(meta["novel_classes"])}')
    for split in ('train', 'val'):
        s = meta[split]
        print(f'{split}: {osp.join(out_dir, s["file"])}: {s["num_images"]} '
              f'images, {s["num_annotations"]} annotations '
              f'({s["annotations"]} classes); removed {s["removed"]}')
    print(f'summary: {osp.join(out_dir, "ov_split.json")}')
    return meta


if __name__ == '__main__':
    main()
