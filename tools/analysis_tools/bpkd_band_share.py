# Copyright (c) mmkd contributors. All rights reserved.
"""How much of a segmentation dataset BPKD's boundary band covers.

For each kernel size k, the band is the union over classes of BPKD's edge
mask at label resolution (``boundary_masks`` with no pooling, the
references' formula: dilation minus erosion of each class region). Printed
per k: the share of all valid label pixels in the band, and the share of
the foreground pixels (every class but ``--background``) in it. BPKD was
designed for data where boundaries are a minority of an object's pixels
(Cityscapes crops); on small objects at low resolution the band covers
most of them and the body loss has little body left.

Example::

    python tools/analysis_tools/bpkd_band_share.py \\
        configs/digit_scenes/fcn_r18-w16_2k_digit-scenes256-128x128.py
"""
import argparse
import os.path as osp
import sys

import mmcv
import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

from mmkd.methods.bpkd.edge_mask import boundary_masks  # noqa: E402
from mmkd.registry import DATASETS  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='a segmentation config')
    parser.add_argument(
        '--kernel-sizes', type=int, nargs='+', default=[3, 5, 7])
    parser.add_argument(
        '--loader',
        default='test_dataloader',
        help='the config key whose dataset is read')
    parser.add_argument(
        '--background',
        type=int,
        default=0,
        help='the class that is not foreground')
    parser.add_argument('--num-classes', type=int, help='default: the '
                        "decode head's num_classes")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def load_label_maps(cfg, loader):
    """The label maps of ``cfg[loader]``'s dataset, as (H, W) arrays."""
    if loader not in cfg:
        raise KeyError(f'{cfg.filename}: no {loader!r}')
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    dataset = DATASETS.build(cfg[loader].dataset)
    maps = []
    for info in dataset.load_data_list():
        path = info['seg_map_path']
        label = mmcv.imread(path, flag='unchanged', backend='pillow')
        if label is None:
            raise FileNotFoundError(f'cannot read the label map {path}')
        maps.append(label)
    if not maps:
        raise ValueError(f'{cfg.filename}: {loader} has no samples')
    return maps


def band_share(maps, num_classes, kernel_size, background=0,
               ignore_index=255):
    """Shares of valid and of foreground pixels in BPKD's band.

    Returns:
        tuple[float, float]: band / valid pixels, band / foreground pixels.
    """
    band_px = valid_px = fg_band = fg_px = 0
    for label in maps:
        labels = torch.from_numpy(label.astype(np.int64))[None]
        edge, _ = boundary_masks(labels, num_classes, labels.shape[-2:],
                                 kernel_size, ignore_index)
        band = edge[0].amax(0) > 0
        valid = labels[0] != ignore_index
        fg = valid & (labels[0] != background)
        band_px += int((band & valid).sum())
        valid_px += int(valid.sum())
        fg_band += int((band & fg).sum())
        fg_px += int(fg.sum())
    return band_px / max(valid_px, 1), fg_band / max(fg_px, 1)


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    num_classes = args.num_classes
    if num_classes is None:
        num_classes = cfg.model.decode_head.num_classes
    maps = load_label_maps(cfg, args.loader)
    sizes = sorted({m.shape for m in maps})
    print(f'{len(maps)} label maps of {args.loader} ({sizes[0][0]}x'
          f'{sizes[0][1]}{" and others" if len(sizes) > 1 else ""}), '
          f'{num_classes} classes\n')
    print('| k | band / all pixels | band / foreground pixels |')
    print('|---|---|---|')
    for k in args.kernel_sizes:
        share, fg_share = band_share(maps, num_classes, k, args.background)
        print(f'| {k} | {share * 100:.1f}% | {fg_share * 100:.1f}% |')


if __name__ == '__main__':
    main()
