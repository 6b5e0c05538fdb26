# Copyright (c) mmkd contributors. All rights reserved.
"""Generate the DigitScenes dataset (mmseg folders + COCO json).

Example:
    python tools/dataset_converters/digit_scenes.py data/digit_scenes
"""
import argparse
import json
import os.path as osp

from mmkd.datasets.digit_scenes import make_digit_scenes


def parse_args():
    parser = argparse.ArgumentParser(
        description='Generate DigitScenes: handwritten digit scans on '
        'textured canvases.')
    parser.add_argument(
        'root',
        nargs='?',
        default='data/digit_scenes',
        help='output directory (default: data/digit_scenes)')
    parser.add_argument('--num-train', type=int, default=800)
    parser.add_argument('--num-val', type=int, default=200)
    parser.add_argument('--img-size', type=int, default=128)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--domain',
        default='clean',
        choices=['clean', 'shifted'],
        help='shifted: the domain-adaptation target domain')
    return parser.parse_args()


def main():
    args = parse_args()
    root = make_digit_scenes(
        args.root,
        num_train=args.num_train,
        num_val=args.num_val,
        img_size=args.img_size,
        seed=args.seed,
        domain=args.domain)
    with open(osp.join(root, 'meta.json')) as f:
        meta = json.load(f)
    for split in ('train', 'val'):
        print(f'{split}: {meta["num_" + split]} images in '
              f'{osp.join(root, "img_dir", split)}, labels in '
              f'{osp.join(root, "ann_dir", split)}, '
              f'{meta["num_instances"][split]} instances in '
              f'{osp.join(root, "annotations", f"instances_{split}.json")}')
    print(f'stamp: {osp.join(root, "meta.json")} '
          f'(img_size={meta["img_size"]}, seed={meta["seed"]}, '
          f'domain={meta.get("domain", "clean")}, '
          f'version={meta["version"]})')


if __name__ == '__main__':
    main()
