# Copyright (c) mmkd contributors. All rights reserved.
"""Evaluate a checkpoint; on a distill config the student is evaluated.

The options mean what they mean in the student's upstream ``tools/test.py``
(mmseg, mmdet, mmdet3d; the task is read from the config's visualization
hook or ``default_scope``):

- ``--out``: mmdet/mmdet3d dump the predictions to a ``.pkl`` file;
  mmseg writes one prediction PNG per image into a directory.
- ``--show`` / ``--show-dir``: turn on the config's visualization hook
  (``default_hooks.visualization``) to display or save painted images.
- ``--dump-metrics FILE``: write the metrics to a json/yaml/pkl file.

A ``DistillModel`` is built with ``eval_only=True``: the teacher is neither
built nor loaded, so its checkpoint need not exist.
"""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import mmkd  # noqa: F401  (torch.load allow-list, registries)
from mmkd.models.distillers import DistillModel
from mmkd.registry import MODELS
from mmkd.utils import setup_cpu_distributed

# the visualization hook of each task's configs
VIS_HOOKS = {
    'SegVisualizationHook': 'mmseg',
    'DetVisualizationHook': 'mmdet',
    'Det3DVisualizationHook': 'mmdet3d'
}
TASKS_3D = ('mono_det', 'multi-view_det', 'lidar_det', 'lidar_seg',
            'multi-modality_det')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test with mmkd')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir', help='the dir to save the evaluation results')
    parser.add_argument(
        '--out',
        help='mmdet/mmdet3d: dump the predictions to this .pkl file; '
        'mmseg: write the predicted masks (PNG) into this directory')
    parser.add_argument(
        '--dump-metrics', help='dump the metrics to this json/yaml/pkl file')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir',
        help='directory where painted images will be saved (mmdet, mmdet3d: '
        'under work_dir/timestamp/; mmseg: the visualizer\'s save_dir)')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument(
        '--task',
        choices=TASKS_3D,
        help='mmdet3d: what --show/--show-dir draw (the hook\'s vis_task)')
    parser.add_argument(
        '--score-thr',
        type=float,
        default=0.1,
        help='mmdet3d: bbox score threshold of --show/--show-dir')
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
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def _type_name(cfg) -> str:
    type_ = cfg.get('type') if isinstance(cfg, dict) else None
    if isinstance(type_, str):
        return type_.split('.')[-1]
    return getattr(type_, '__name__', '')


def config_task(cfg: Config, config_path: str) -> str:
    """``'mmseg'``, ``'mmdet'`` or ``'mmdet3d'``: the task whose upstream
    tools define ``--out`` and ``--show-dir`` for this config."""
    vis = cfg.get('default_hooks', {}).get('visualization')
    if _type_name(vis) in VIS_HOOKS:
        return VIS_HOOKS[_type_name(vis)]
    scope = cfg.get('default_scope')
    if scope in VIS_HOOKS.values():
        return scope
    raise ValueError(
        f'{config_path}: cannot tell the task (mmseg, mmdet or mmdet3d) '
        'for --out/--show/--show-dir: default_hooks.visualization is '
        f'{_type_name(vis) or None!r} and default_scope {scope!r}')


def set_eval_only(cfg: Config) -> None:
    """Build a DistillModel without its teacher: evaluating the student
    does not need it, nor its checkpoint."""
    model_type = cfg.model.get('type')
    if isinstance(model_type, str):
        model_type = MODELS.get(model_type)
    if isinstance(model_type, type) and issubclass(model_type, DistillModel):
        cfg.model.eval_only = True


def trigger_visualization_hook(cfg: Config, args, task: str) -> None:
    """Turn on ``default_hooks.visualization`` as the task's upstream
    ``tools/test.py`` does for ``--show`` / ``--show-dir``."""
    hook = cfg.get('default_hooks', {}).get('visualization')
    if not isinstance(hook, dict):
        raise ValueError(
            f'{args.config}: --show/--show-dir need a visualization hook in '
            "default_hooks, e.g. default_hooks = dict(visualization=dict("
            "type='SegVisualizationHook')) (DetVisualizationHook for mmdet, "
            'Det3DVisualizationHook for mmdet3d); this config has none')
    hook['draw'] = True
    if args.show:
        hook['show'] = True
        hook['wait_time'] = args.wait_time
    if args.show_dir:
        if task == 'mmseg':
            # SegVisualizationHook saves through the visualizer's backends
            cfg.visualizer['save_dir'] = args.show_dir
        else:
            hook['test_out_dir'] = args.show_dir
    if task == 'mmdet3d':
        if args.task is None and 'vis_task' not in hook:
            raise ValueError(
                f'{args.config}: --show/--show-dir on an mmdet3d config need '
                f'--task (one of {", ".join(TASKS_3D)})')
        if args.task is not None:
            hook['vis_task'] = args.task
        hook['score_thr'] = args.score_thr


def set_mmseg_out(cfg: Config, out: str) -> None:
    """mmseg's ``--out``: the IoU metric writes the predicted masks."""
    evaluators = cfg.test_evaluator
    for evaluator in (evaluators if isinstance(evaluators, list) else
                      [evaluators]):
        evaluator['output_dir'] = out
        evaluator['keep_results'] = True


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint {args.checkpoint!r} not found')
    cfg.load_from = args.checkpoint
    set_eval_only(cfg)

    task = None
    if args.out or args.show or args.show_dir:
        task = config_task(cfg, args.config)
    if args.out and task != 'mmseg' and not args.out.endswith(
            ('.pkl', '.pickle')):
        raise ValueError(f'--out on an {task} config dumps the predictions '
                         f'to a pickle file: it must end with .pkl, got '
                         f'{args.out!r}')
    if args.show or args.show_dir:
        trigger_visualization_hook(cfg, args, task)
    if args.out and task == 'mmseg':
        set_mmseg_out(cfg, args.out)

    setup_cpu_distributed(cfg, args.launcher)
    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)
    if args.out and task != 'mmseg':
        if task == 'mmdet':
            from mmdet.evaluation import DumpDetResults as Dump
        else:
            from mmengine.evaluator import DumpResults as Dump
        runner.test_evaluator.metrics.append(Dump(out_file_path=args.out))
    metrics = runner.test()
    if args.dump_metrics and runner.rank == 0:
        from mmengine.fileio import dump
        dump(metrics, args.dump_metrics)
    return metrics


if __name__ == '__main__':
    main()
