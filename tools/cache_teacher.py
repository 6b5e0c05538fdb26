# Copyright (c) mmkd contributors. All rights reserved.
"""Run a distillation config's teacher once over its training set and store
the tapped outputs (float16, one file per sample), keyed by sample and flip.

``--topk K`` keeps the K largest channels of each ``[C, H, W]`` map per
position (plus the mean of the others) and ``--pool P`` average-pools maps
by P: smaller caches of an approximate teacher (sizes and what they cost in
accuracy: docs/benchmarks.md).

Train with the cache by setting ``model.teacher_cache=<out dir>``; the
teacher then does not run. A cache is refused by a config whose teacher
config, checkpoint, taps or teacher_dtype differ (fingerprint), whose
training pipeline differs from the one it was built with, or whose input
files changed since (size, modification time); an incomplete cache (a
missing or truncated entry) is refused when it opens. A pipeline with
augmentations the cache cannot key (random crops, photometric distortion,
random resizing) is refused here and by ``tools/train.py``.

``--out`` must be a new or empty folder, or a cache: the new cache is
written beside the old one, which stays complete and in use until the new
one is (an interrupted build leaves it so).

Example:
    python tools/cache_teacher.py CONFIG --out work_dirs/teacher_cache
    python tools/cache_teacher.py CONFIG --out work_dirs/tc --topk 4 --pool 2
"""
import argparse
import copy
import os.path as osp
import tempfile
import time
from typing import Optional

import torch
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

import mmkd  # noqa: F401  (registries, torch.load allow-list)
from mmkd.models.distillers.teacher_cache import (TeacherCache,
                                                  check_cache_target,
                                                  check_cacheable_pipeline)
from mmkd.models.distillers.teacher_source import (TeacherSource,
                                                   strip_teacher_view)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='a DistillModel config')
    parser.add_argument('--out', required=True, help='cache folder')
    parser.add_argument(
        '--topk',
        type=int,
        help='keep the K largest channels of each [C, H, W] map')
    parser.add_argument(
        '--pool', type=int, help='average-pool each [C, H, W] map by P')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs')
    return parser.parse_args(argv)


def _flip_passes(pipeline):
    """One pipeline per flip state a RandomFlip can produce."""
    flips = [i for i, t in enumerate(pipeline)
             if str(t['type']).split('.')[-1] == 'RandomFlip']
    if not flips:
        return [pipeline]
    passes = []
    for prob in (0.0, 1.0):
        variant = copy.deepcopy(pipeline)
        for i in flips:
            if isinstance(variant[i].get('direction'), (list, tuple)):
                raise ValueError('a teacher cache supports RandomFlip with '
                                 'one direction')
            variant[i]['prob'] = prob
        passes.append(variant)
    return passes


def build_cache(cfg: Config,
                out: str,
                topk: Optional[int] = None,
                pool: Optional[int] = None) -> TeacherCache:
    """Run the teacher over the training set, writing the cache to ``out``.

    ``out`` may hold a previous cache: it stays in use until the new cache
    is complete, and is then replaced.
    """
    for name, value in (('--topk', topk), ('--pool', pool)):
        if value is not None and value < 1:
            raise ValueError(f'{name} must be >= 1, got {value}')
    dataset_cfg = cfg.train_dataloader.dataset
    check_cacheable_pipeline(dataset_cfg.pipeline)
    check_cache_target(out)
    cfg = copy.deepcopy(cfg)
    cfg.model.pop('teacher_cache', None)
    for hook_cfg in cfg.get('custom_hooks', []):
        hook_cfg.pop('teacher_cache', None)
    cfg.work_dir = cfg.get('work_dir') or tempfile.mkdtemp()
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    model = runner.model
    hook = next((h for h in runner.hooks if type(h).__name__ == 'DistillHook'),
                None)
    if hook is not None:  # distillation inside an unmodified project
        hook.teacher_cache = None
        distiller = hook.build_distiller(runner)
        source, student_pp = hook.teacher_source, model.data_preprocessor
    elif isinstance(getattr(model, 'teacher_source', None), TeacherSource) \
            and model.teacher_source.fingerprint is not None:
        distiller, source = model.distiller, model.teacher_source
        student_pp = model.data_preprocessor.student
    else:
        raise ValueError('a teacher cache needs a DistillModel with a fixed '
                         'teacher (not a mean teacher) or a DistillHook')
    fingerprint = source.fingerprint

    def teacher_inputs(raw):
        # as in training: the teacher's preprocessing, then the student's
        inputs = source.preprocess(raw, student_pp)
        data = student_pp(strip_teacher_view(raw), True)
        return (data['inputs'] if inputs is None else inputs,
                data['data_samples'])

    # new entries go to a folder of their own; save() swaps them in
    cache = TeacherCache(
        fingerprint, out, topk=topk, pool=pool, pipeline=dataset_cfg.pipeline)
    try:
        for pipeline in _flip_passes(dataset_cfg.pipeline):
            loader_cfg = copy.deepcopy(cfg.train_dataloader)
            loader_cfg.dataset.pipeline = pipeline
            loader_cfg.sampler = dict(type='DefaultSampler', shuffle=False)
            loader = runner.build_dataloader(loader_cfg)
            for raw in loader:
                inputs, data_samples = teacher_inputs(raw)
                feats = distiller.teacher_forward(inputs, data_samples)
                cache.add(feats, data_samples)
    except BaseException:
        cache.discard()
        raise
    cache.save()
    return cache


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    start = time.time()
    with torch.no_grad():
        cache = build_cache(cfg, args.out, args.topk, args.pool)
    print(f'teacher cache: {len(cache)} entries, '
          f'{cache.nbytes() / 2**20:.2f} MiB, built in '
          f'{time.time() - start:.1f} s -> {osp.abspath(args.out)}')
    return cache


if __name__ == '__main__':
    main()
