# Copyright (c) mmkd contributors. All rights reserved.
"""Dump the RPN proposals of a detector trained on the base classes, for
OAKE's object view (``tools/misc/oadp_extract.py --proposals``).

The detector (an mmdet ``RPN`` or two-stage detector: its RPN) is the
config's model with the checkpoint's weights, loaded strictly; the
checkpoint's ``dataset_meta`` must name the split's base classes (see
``mmkd/methods/oadp/proposal_dump.py``). The images are those of
``<split>_dataloader`` of ``--data-config`` (default: the detector's
config), read through the detector config's test pipeline (annotations
not loaded); boxes are written in the original images' pixels with their
objectness, keyed by the image path relative to the dataset's
``data_root`` (format: ``mmkd/methods/oadp/proposals.py``). The settings
default to OLN's, OADP's proposals: 1500 per image, NMS at IoU 0.7 across
levels, score >= 0. ``<out stem>.json`` records the settings and counts.

Example (OV DigitScenes, after training the base-class detector):
    python tools/misc/oadp_proposals.py \\
        configs/oadp/proposals_faster-rcnn_r18_fpn_2k_ov-digit-scenes.py \\
        work_dirs/oadp_proposals/iter_2000.pth \\
        --out data/digit_scenes_ov/proposals/train.pkl --num-proposals 20
"""
import argparse
import json
import os.path as osp
import sys
import time

import torch
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint

import mmkd  # noqa: F401  (registries)
from mmkd.methods.oadp import (OADP_PROPOSAL_SETTINGS,
                               check_base_class_detector, dump_proposals,
                               load_proposals, proposal_test_cfg,
                               save_proposals)
from mmkd.methods.oadp.extract import dataset_samples
from mmkd.methods.oadp.proposal_dump import dataset_images, summary
from mmkd.methods.oadp.proposals import ProposalSample
from mmkd.registry import DATASETS, MODELS

_D = OADP_PROPOSAL_SETTINGS


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='the detector config')
    parser.add_argument('checkpoint', help='its weights')
    parser.add_argument('--out', required=True, help='proposal pickle')
    parser.add_argument(
        '--data-config',
        help='config whose <split>_dataloader lists the images (e.g. the '
        'OADP config). Defaults to the detector config')
    parser.add_argument(
        '--split', default='train', help='whose images. Defaults to train')
    parser.add_argument(
        '--data-root',
        help="keys are image paths relative to it. Defaults to the "
        "dataset's data_root")
    parser.add_argument(
        '--num-proposals',
        type=int,
        default=_D['num_proposals'],
        help=f'per image, after NMS. Defaults to {_D["num_proposals"]} '
        '(OLN)')
    parser.add_argument(
        '--nms-iou',
        type=float,
        default=_D['nms_iou'],
        help=f'NMS IoU threshold. Defaults to {_D["nms_iou"]}')
    parser.add_argument(
        '--nms-pre',
        type=int,
        default=_D['nms_pre'],
        help=f'best boxes per level before NMS. Defaults to {_D["nms_pre"]}')
    parser.add_argument(
        '--nms-per-level',
        action='store_true',
        help="mmdet's NMS per FPN level instead of one across levels (OLN)")
    parser.add_argument(
        '--score-thr',
        type=float,
        default=_D['score_thr'],
        help=f'minimum objectness. Defaults to {_D["score_thr"]}')
    parser.add_argument(
        '--min-size',
        type=float,
        default=_D['min_size'],
        help='boxes not wider and higher are dropped. Defaults to '
        f'{_D["min_size"]} (OAKE drops those under 4 px itself)')
    parser.add_argument(
        '--no-class-check',
        action='store_true',
        help="skip the check that the checkpoint's classes are the split's "
        'base classes')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--num-workers', type=int, default=0)
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the detector config, key=value pairs')
    return parser.parse_args(argv)


def _test_pipeline(cfg: Config, where: str) -> list:
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader') or {}
    dataset = loader.get('dataset', {})
    while 'pipeline' not in dataset and 'dataset' in dataset:
        dataset = dataset['dataset']
    if 'pipeline' not in dataset:
        raise KeyError(f'{where} has no test_dataloader.dataset.pipeline to '
                       'read the images with')
    # proposals need the image only
    return [
        step for step in dataset['pipeline']
        if not str(step.get('type', '')).endswith('LoadAnnotations')
    ]


def _with_pipeline(cfg, pipeline):
    """A dataset config (wrappers included) with another pipeline."""
    cfg = dict(cfg)
    if 'dataset' in cfg:
        cfg['dataset'] = _with_pipeline(cfg['dataset'], pipeline)
    elif 'datasets' in cfg:
        cfg['datasets'] = [
            _with_pipeline(d, pipeline) for d in cfg['datasets']
        ]
    else:
        cfg['pipeline'] = pipeline
    return cfg


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    data_cfg = cfg if args.data_config is None else Config.fromfile(
        args.data_config)
    source = args.data_config or args.config
    loader = data_cfg.get(f'{args.split}_dataloader')
    if not loader or 'dataset' not in loader:
        raise KeyError(f'{source} has no {args.split}_dataloader with a '
                       'dataset')
    dataset_cfg = _with_pipeline(loader['dataset'],
                                 _test_pipeline(cfg, args.config))
    dataset = DATASETS.build(dataset_cfg)
    data_root = args.data_root or dataset_cfg.get('data_root') or getattr(
        dataset, 'data_root', None)
    # every image, before the model is built
    dataset_images(dataset, data_root)

    settings = dict(
        num_proposals=args.num_proposals,
        nms_iou=args.nms_iou,
        nms_pre=args.nms_pre,
        nms_across_levels=not args.nms_per_level,
        score_thr=args.score_thr,
        min_size=args.min_size)
    test_cfg = cfg.model.get('test_cfg') or {}
    if 'rpn' not in test_cfg:
        raise KeyError(f'{args.config}: model.test_cfg has no rpn: proposals '
                       'come from an mmdet RPN or two-stage detector')
    cfg.model.test_cfg.rpn = proposal_test_cfg(
        test_cfg['rpn'], **{
            k: v
            for k, v in settings.items() if k != 'score_thr'
        })
    # the weights come from the checkpoint
    cfg.model.pop('init_cfg', None)
    if 'backbone' in cfg.model:
        cfg.model.backbone.pop('init_cfg', None)
    model = MODELS.build(cfg.model)
    checkpoint = load_checkpoint(
        model, args.checkpoint, map_location='cpu', strict=True)
    if not args.no_class_check:
        check_base_class_detector(
            checkpoint.get('meta'), dataset.metainfo, args.checkpoint)
    model.to(args.device).eval()

    start = time.time()

    def progress(done, total):
        if done == total or done % 100 < args.batch_size:
            print(
                f'{done}/{total} images, {time.time() - start:.0f} s',
                file=sys.stderr)

    proposals = dump_proposals(model, dataset, data_root, args.batch_size,
                               args.num_workers, args.score_thr, progress)
    save_proposals(args.out, proposals)
    # read back as OAKE will
    samples = dataset_samples(dataset, data_root)
    load_proposals(args.out, [
        ProposalSample(s['key'], s['img_path'], s['img_id']) for s in samples
    ])
    report = summary(proposals, settings,
                     [osp.abspath(args.config),
                      osp.abspath(args.checkpoint)])
    report.update(split=args.split, data_root=data_root, data_config=source)
    with open(osp.splitext(args.out)[0] + '.json', 'w') as f:
        json.dump(report, f, indent=2)
    counts = report['proposals_per_image']
    print(f'{args.out}: {report["num_images"]} images, proposals per image '
          f'{counts["min"]}-{counts["max"]} (mean {counts["mean"]:.1f}); '
          f'keys relative to data_root {data_root!r}')
    return proposals


if __name__ == '__main__':
    torch.set_grad_enabled(False)
    main()
