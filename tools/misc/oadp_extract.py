# Copyright (c) mmkd contributors. All rights reserved.
"""OADP's OAKE: embed a dataset's images with a frozen CLIP image tower
into record caches (global, blocks, objects) for distillation.

For each image of the config's ``<split>_dataloader`` dataset (its
pipeline is not used: images are read from their paths, as mmdet's
``LoadImageFromFile`` reads them), ``<out>/global``, ``<out>/blocks`` and
``<out>/objects`` get the L2-normalised float16 embeddings, with boxes in
the original image's pixels (see ``mmkd/methods/oadp/extract.py``).
Objects are the proposals of ``--proposals`` (format:
``mmkd/methods/oadp/proposals.py``); a cache is refused later by a config
with another CLIP checkpoint (fingerprint) or proposal file (its bytes).

Example:
    python tools/misc/oadp_extract.py configs/oadp/CONFIG.py \\
        --clip ViT-B/32 --proposals data/coco/oln_proposals_train.pkl \\
        --out data/coco/oake/train --split train --device cuda
"""
import argparse
import sys
import time

import torch
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope

import mmkd  # noqa: F401  (registries)
from mmkd.methods.oadp import OAKE, OAKE_VIEWS, extract_oake


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='a config with the dataset')
    parser.add_argument(
        '--clip',
        required=True,
        help='OpenAI CLIP checkpoint: a TorchScript archive or state dict '
        'file, or a model name such as ViT-B/32 (downloaded once)')
    parser.add_argument('--proposals', help='proposal pickle (objects view)')
    parser.add_argument('--out', required=True, help='folder of the caches')
    parser.add_argument(
        '--split',
        default='train',
        help='whose dataset: <split>_dataloader. Defaults to train')
    parser.add_argument(
        '--views',
        nargs='+',
        default=list(OAKE_VIEWS),
        choices=OAKE_VIEWS,
        help='views to extract. Defaults to all')
    parser.add_argument(
        '--data-root',
        help='keys are image paths relative to it. Defaults to the '
        "dataset's data_root")
    parser.add_argument(
        '--faithful-block0-box',
        action='store_true',
        help="block 0's box as official main writes it, ((w - h) / 2, 0, "
        'h, h) read as x1, y1, x2, y2, instead of the centre square')
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--batch-size', type=int, default=64, help='crops per forward')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmkd'))
    loader = cfg.get(f'{args.split}_dataloader')
    if not loader or 'dataset' not in loader:
        raise KeyError(f'{args.config} has no {args.split}_dataloader with a '
                       'dataset')
    dataset = loader['dataset']
    data_root = args.data_root or dataset.get('data_root')
    oake = OAKE(
        args.clip,
        faithful_block0_box=args.faithful_block0_box,
        batch_size=args.batch_size).to(args.device)
    start = time.time()

    def progress(done, total):
        if done == total or done % 100 == 0:
            print(
                f'{done}/{total} images, {time.time() - start:.0f} s',
                file=sys.stderr)

    with torch.no_grad():
        roots = extract_oake(dataset, oake, args.out, args.proposals,
                             data_root, args.views, progress)
    for view, root in roots.items():
        print(f'{view}: {root}')
    print(f'keys relative to data_root {data_root!r}')
    return roots


if __name__ == '__main__':
    main()
