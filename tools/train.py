# Copyright (c) mmkd contributors. All rights reserved.
"""Train a model (a distilled student or a plain mm model) from a config."""
import argparse
import logging
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import mmkd  # noqa: F401  (torch.load allow-list, registries)
from mmkd.models.distillers.teacher_source import check_teacher_cache
from mmkd.utils import resolve_resume_checkpoint, setup_cpu_distributed

# added to every run: exact resume (random states) and a clear error when
# the checkpoint's parameters are not the model's
DEFAULT_HOOKS = ('RandomStatesHook', 'ResumeCheckHook')


def parse_args():
    parser = argparse.ArgumentParser(description='Train with mmkd')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or from the latest one in '
        'the work_dir when no path is given')
    parser.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='enable automatic-mixed-precision training')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def add_default_hooks(cfg: Config) -> None:
    """Append the hooks of ``DEFAULT_HOOKS`` that ``custom_hooks`` lacks."""
    hooks = list(cfg.get('custom_hooks') or [])
    present = {
        getattr(h['type'], '__name__', str(h['type'])).split('.')[-1]
        for h in hooks if isinstance(h, dict) and 'type' in h
    }
    hooks += [
        dict(type=f'mmkd.{name}') for name in DEFAULT_HOOKS
        if name not in present
    ]
    cfg.custom_hooks = hooks


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)

    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])

    if args.amp:
        import torch
        if not torch.cuda.is_available():
            raise ValueError(
                '--amp needs a GPU: MMEngine\'s AmpOptimWrapper runs on '
                'CUDA/NPU/MLU/MUSA only. On CPU, model.teacher_dtype=bf16 '
                'runs the teacher in reduced precision.')
        if cfg.optim_wrapper.type == 'AmpOptimWrapper':
            print_log(
                'AMP training is already enabled in your config.',
                logger='current',
                level=logging.WARNING)
        elif cfg.optim_wrapper.type != 'OptimWrapper':
            raise ValueError('--amp needs optim_wrapper.type OptimWrapper, '
                             f'got {cfg.optim_wrapper.type}')
        else:
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    if cfg.get('resume'):
        # a truncated latest checkpoint falls back to the one before it
        cfg.load_from = resolve_resume_checkpoint(cfg.work_dir,
                                                  cfg.get('load_from'))
    add_default_hooks(cfg)

    if cfg.model.get('teacher_cache'):
        # the cache holds the teacher's outputs for this pipeline's samples
        check_teacher_cache(cfg.model.teacher_cache,
                            cfg.train_dataloader.dataset.pipeline)
    setup_cpu_distributed(cfg, args.launcher)
    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)
    runner.train()


if __name__ == '__main__':
    main()
