# Copyright (c) mmkd contributors. All rights reserved.
"""The user-facing tools on a tiny DigitScenes: train, test, export, resume.

Each tool runs in a subprocess exactly as a user runs it.
"""
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmkd  # noqa: F401
from mmkd_testing import (assert_ranks_identical, run_dist,
                          save_random_teacher)

from mmkd.datasets import make_digit_scenes
from mmkd.models.distillers import build_model

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DISTILL = osp.join(
    ROOT, 'configs/cwd/'
    'cwd_logits_fcn-r18w32_fcn-r18w8_2k_digit-scenes-128x128.py')
STUDENT = osp.join(
    ROOT, 'configs/digit_scenes/fcn_r18-w8_2k_digit-scenes-128x128.py')
DET_STUDENT = osp.join(
    ROOT, 'projects/distill_hook_mmdet/configs/'
    'retinanet_r18_fpn_digit-scenes.py')

# a deterministic variant: no random photometric aug, no dropout, so an
# interrupted and resumed run must give the same weights as a straight one
TEST_CFG = '''
_base_ = ['{base}']
data_root = '{data}'
train_dataloader = dict(
    batch_size=2,
    dataset=dict(
        data_root=data_root,
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations'),
            dict(type='PackSegInputs')
        ]))
val_dataloader = dict(batch_size=2, dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
model = dict(
    teacher_ckpt='{teacher_ckpt}',
    student=dict(decode_head=dict(dropout_ratio=0.0)))
train_cfg = dict(max_iters=2, val_interval=100)
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(interval=2, max_keep_ckpts=3),
    visualization=dict(type='SegVisualizationHook', draw=False))
'''


def _run_tool(*args):
    return subprocess.run([sys.executable, *args],
                          cwd=ROOT,
                          capture_output=True,
                          text=True)


def run_tool(*args):
    """Run a tool that must succeed; return its output."""
    proc = _run_tool(*args)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def run_tool_failing(*args):
    """Run a tool that must fail; return its stderr."""
    proc = _run_tool(*args)
    assert proc.returncode != 0, proc.stdout[-3000:]
    return proc.stderr


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('tools')
    data = str(tmp / 'digit_scenes')
    make_digit_scenes(data, num_train=6, num_val=4, seed=3)
    teacher_ckpt = save_random_teacher(
        Config.fromfile(DISTILL).model.teacher, str(tmp / 'teacher.pth'),
        'mmseg')
    config = str(tmp / 'cwd_tiny.py')
    with open(config, 'w') as f:
        f.write(
            TEST_CFG.format(base=DISTILL, data=data,
                            teacher_ckpt=teacher_ckpt))
    return dict(tmp=tmp, config=config, data=data)


@pytest.fixture(scope='module')
def trained(setup):
    """tools/train.py on the tiny config: its last checkpoint and log."""
    work_dir = str(setup['tmp'] / 'train')
    log = run_tool('tools/train.py', setup['config'], '--work-dir', work_dir)
    return osp.join(work_dir, 'iter_2.pth'), log


def load_tool(name):
    """``tools/<name>.py`` as a module, to call it in-process."""
    spec = importlib.util.spec_from_file_location(
        f'mmkd_{name}_tool', osp.join(ROOT, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_test_tool():
    """tools/test.py as a module, to call its ``main`` in-process."""
    return load_tool('test')


def _state(path):
    return torch.load(path, map_location='cpu')['state_dict']


def test_train_test_export(setup, trained):
    tmp, config = setup['tmp'], setup['config']
    ckpt, log = trained
    assert 'distill.loss_cwd_logits' in log
    state = _state(ckpt)
    assert state and all(
        k.startswith(('student.', 'data_preprocessor.')) for k in state)

    metrics_file = str(tmp / 'distill_metrics.json')
    run_tool('tools/test.py', config, ckpt, '--work-dir',
             str(tmp / 'test'), '--dump-metrics', metrics_file)
    with open(metrics_file) as f:
        metrics = json.load(f)
    assert 0 <= metrics['mIoU'] <= 100

    # the exported student loads strictly into the student's own config and
    # mmseg's own test script gives the same metrics
    student_ckpt = str(tmp / 'student.pth')
    run_tool('tools/export_student.py', config, ckpt, student_ckpt)
    exported = _state(student_ckpt)
    assert set(exported) == {
        k[len('student.'):]
        for k in state if k.startswith('student.')
    }
    init_default_scope('mmseg')
    student = build_model(Config.fromfile(STUDENT).model, 'student')
    student.load_state_dict(exported, strict=True)

    import mmseg
    mmseg_test = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools',
                          'test.py')
    student_cfg = str(tmp / 'student_tiny.py')
    with open(student_cfg, 'w') as f:
        f.write(f"_base_ = ['{STUDENT}']\n"
                f"test_dataloader = dict(batch_size=2, dataset=dict("
                f"data_root='{setup['data']}'))\n")
    log = run_tool(mmseg_test, student_cfg, student_ckpt, '--work-dir',
                   str(tmp / 'mmseg_test'))
    assert f"mIoU: {metrics['mIoU']:.4f}" in log


def test_test_needs_no_teacher(setup, trained):
    """tools/test.py evaluates the student of a DistillModel config whose
    teacher checkpoint is gone, with the metrics of the full model."""
    from mmengine.runner import Runner
    tmp, config = setup['tmp'], setup['config']
    ckpt, _ = trained
    cfg = Config.fromfile(config)
    cfg.work_dir = str(tmp / 'test_full')
    cfg.load_from = ckpt
    full = Runner.from_cfg(cfg).test()  # builds and loads the teacher

    missing = str(tmp / 'no_such_teacher.pth')
    metrics = load_test_tool().main([
        config, ckpt, '--work-dir',
        str(tmp / 'test_no_teacher'), '--cfg-options',
        f'model.teacher_ckpt={missing}'
    ])
    assert metrics == full


def test_test_out_and_show_dir_mmseg(setup, trained):
    """mmseg's meanings: --out is a folder of predicted masks, --show-dir
    the visualizer's save_dir, where the painted images go."""
    import cv2
    tmp, config = setup['tmp'], setup['config']
    ckpt, _ = trained
    out, show_dir = str(tmp / 'seg_preds'), str(tmp / 'seg_show')
    # a process of its own: mmseg's visualizer is a named global instance
    run_tool('tools/test.py', config, ckpt, '--work-dir',
             str(tmp / 'test_seg_out'), '--out', out, '--show-dir', show_dir,
             '--cfg-options', 'default_hooks.visualization.interval=1')
    val_dir = osp.join(setup['data'], 'img_dir', 'val')
    assert sorted(os.listdir(out)) == sorted(os.listdir(val_dir))
    for name in os.listdir(out):
        mask = cv2.imread(osp.join(out, name), cv2.IMREAD_UNCHANGED)
        image = cv2.imread(osp.join(val_dir, name))
        assert mask.shape == image.shape[:2] and mask.max() <= 10
    painted = [f for _, _, files in os.walk(show_dir) for f in files
               if f.endswith('.png')]
    assert len(painted) == 4  # one per val canvas


def test_test_out_and_show_dir_mmdet(setup, tmp_path):
    """mmdet's meanings: --out a .pkl of predictions (DumpDetResults),
    --show-dir painted images under work_dir/<timestamp>/."""
    import pickle
    ckpt = save_random_teacher(
        Config.fromfile(DET_STUDENT).model, str(tmp_path / 'det.pth'),
        'mmdet')
    out = str(tmp_path / 'preds.pkl')
    work_dir = tmp_path / 'work'
    tool = load_test_tool()
    data = setup['data']
    options = [
        '--cfg-options', f'test_dataloader.dataset.data_root={data}',
        f'test_evaluator.ann_file={data}/annotations/instances_val.json',
        'default_hooks.visualization.interval=1'
    ]
    with pytest.raises(ValueError, match=r'must end with \.pkl'):
        tool.main([DET_STUDENT, ckpt, '--out', str(tmp_path / 'p.json')])
    run_tool('tools/test.py', DET_STUDENT, ckpt, '--work-dir', str(work_dir),
             '--out', out, '--show-dir', 'painted', *options)
    with open(out, 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == 4 and all('pred_instances' in p for p in preds)
    assert 'bboxes' in preds[0]['pred_instances']
    painted = list(work_dir.glob('*/painted/*.png'))
    assert len(painted) == 4


def test_show_options_need_a_visualization_hook(tmp_path):
    tool = load_test_tool()
    args = tool.parse_args(['cfg.py', 'ckpt.pth', '--show-dir', 'vis'])
    cfg = Config(dict(default_scope='mmseg',
                      default_hooks=dict(timer=dict(type='IterTimerHook'))))
    with pytest.raises(ValueError,
                       match='cfg.py: --show/--show-dir need a visualization'
                       ' hook in default_hooks'):
        tool.trigger_visualization_hook(cfg, args, 'mmseg')
    with pytest.raises(ValueError, match='cannot tell the task'):
        tool.config_task(Config(dict(default_scope='mmkd')), 'cfg.py')

    # mmdet3d: the drawing task is required, as upstream
    cfg = Config(dict(default_hooks=dict(
        visualization=dict(type='mmdet3d.Det3DVisualizationHook'))))
    assert tool.config_task(cfg, 'cfg.py') == 'mmdet3d'
    with pytest.raises(ValueError, match='need --task'):
        tool.trigger_visualization_hook(cfg, args, 'mmdet3d')
    args = tool.parse_args(['cfg.py', 'ckpt.pth', '--show-dir', 'vis',
                            '--task', 'lidar_det'])
    tool.trigger_visualization_hook(cfg, args, 'mmdet3d')
    assert cfg.default_hooks.visualization == dict(
        type='mmdet3d.Det3DVisualizationHook', draw=True,
        test_out_dir='vis', vis_task='lidar_det', score_thr=0.1)


def test_resume_gives_identical_weights(setup):
    tmp, config = setup['tmp'], setup['config']
    straight = str(tmp / 'straight')
    run_tool('tools/train.py', config, '--work-dir', straight,
             '--cfg-options', 'train_cfg.max_iters=4')

    interrupted = str(tmp / 'interrupted')
    run_tool('tools/train.py', config, '--work-dir', interrupted)
    assert not osp.exists(osp.join(interrupted, 'iter_4.pth'))
    log = run_tool('tools/train.py', config, '--work-dir', interrupted,
                   '--resume', '--cfg-options', 'train_cfg.max_iters=4')
    assert 'resumed epoch: 0, iter: 2' in log

    a = _state(osp.join(straight, 'iter_4.pth'))
    b = _state(osp.join(interrupted, 'iter_4.pth'))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # the weights did change over the two resumed iterations
    mid = _state(osp.join(interrupted, 'iter_2.pth'))
    assert not all(torch.equal(mid[k], b[k]) for k in b)


def test_bad_teacher_ckpt_fails_before_training(setup):
    stderr = run_tool_failing(
        'tools/train.py', setup['config'], '--work-dir',
        str(setup['tmp'] / 'bad'), '--cfg-options',
        'model.teacher_ckpt=no/such/teacher.pth')
    assert "teacher_ckpt 'no/such/teacher.pth' does not exist" in (
        stderr)
    assert not os.path.exists(str(setup['tmp'] / 'bad' / 'iter_1.pth'))


def test_dist_train_on_cpu_with_two_processes(setup):
    """torchrun + gloo: the same weights on every rank after 3 iterations,
    SyncBN reverted with a warning, and dist_test.sh matches test.py."""
    tmp = setup['tmp']
    work_dir = str(tmp / 'dist')
    os.makedirs(work_dir)
    config = str(tmp / 'cwd_dist.py')
    with open(config, 'w') as f:
        f.write(f"_base_ = ['{setup['config']}']\n"
                "custom_imports = dict(imports=['mmkd', "
                "'dump_rank_weights'], allow_failed_imports=False)\n"
                "custom_hooks = [dict(type='DumpRankWeights', "
                f"out_dir='{work_dir}')]\n"
                'train_cfg = dict(max_iters=3)\n'
                'default_hooks = dict(checkpoint=dict(interval=3))\n'
                "norm_cfg = dict(type='SyncBN', requires_grad=True)\n"
                'model = dict(student=dict(backbone=dict(norm_cfg=norm_cfg),'
                ' decode_head=dict(norm_cfg=norm_cfg)))\n')
    log = run_dist('tools/dist_train.sh', config, '2', '--work-dir',
                   work_dir, port=29533)
    assert "dist_cfg=dict(backend='gloo')" in log
    assert "model_wrapper_cfg = dict(type='mmkd.CPUDistributedDataParallel')" \
        in log
    assert 'SyncBN does not run on CPU (gloo)' in log
    assert log.count('Iter(train) [3/3]') == 1  # logged by rank 0 only
    state = assert_ranks_identical(work_dir)
    assert any(k.startswith('student.') for k in state)
    ckpt = torch.load(osp.join(work_dir, 'iter_3.pth'), map_location='cpu')
    # neither the DDP wrapper nor the teacher is in the checkpoint
    assert all(not k.startswith(('module.', 'teacher'))
               for k in ckpt['state_dict'])

    # 2 processes evaluate like 1
    ckpt_path = osp.join(work_dir, 'iter_3.pth')
    one = str(tmp / 'dist_one.json')
    run_tool('tools/test.py', setup['config'], ckpt_path, '--work-dir',
             str(tmp / 'dist_test1'), '--dump-metrics', one)
    two = str(tmp / 'dist_two.json')
    run_dist('tools/dist_test.sh', setup['config'], ckpt_path, '2',
             '--work-dir', str(tmp / 'dist_test2'), '--dump-metrics', two,
             port=29534)
    with open(one) as f1, open(two) as f2:
        assert json.load(f1) == json.load(f2)


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU path')
def test_amp_without_gpu_fails_clearly(setup):
    stderr = run_tool_failing(
        'tools/train.py', setup['config'], '--amp',
        '--work-dir', str(setup['tmp'] / 'amp'))
    assert '--amp needs a GPU' in stderr
    assert 'teacher_dtype=bf16' in stderr


def test_teacher_cache(setup):
    """Cached teacher taps give the same distill losses as the teacher;
    caches of another teacher and un-keyable pipelines are refused."""
    from mmengine.runner import Runner

    from mmkd.models.distillers.teacher_cache import TeacherCache

    tmp, config = setup['tmp'], setup['config']
    cache_dir = str(tmp / 'cache')
    log = run_tool('tools/cache_teacher.py', config, '--out', cache_dir)
    assert 'teacher cache: 6 entries' in log  # 6 training canvases

    cfg = Config.fromfile(config)
    cfg.work_dir = str(tmp / 'cache_run')
    cfg.model.teacher_cache = cache_dir
    runner = Runner.from_cfg(cfg)
    model = runner.model
    batch = next(iter(runner.build_dataloader(cfg.train_dataloader)))
    data = model.data_preprocessor(batch, True)
    with torch.no_grad():
        cached = model(**data, mode='loss')['distill.loss_cwd_logits']
        cache, model.teacher_cache = model.teacher_cache, None
        live = model(**data, mode='loss')['distill.loss_cwd_logits']
    torch.testing.assert_close(cached, live, rtol=1e-2, atol=1e-4)
    assert len(cache) == 6

    # the teacher never runs with a cache
    model.teacher_cache = cache
    calls = []
    model.teacher.register_forward_pre_hook(lambda *a: calls.append(1))
    model(**data, mode='loss')
    assert not calls

    # another teacher checkpoint: refused at build time
    other = str(tmp / 'other_teacher.pth')
    state = torch.load(cfg.model.teacher_ckpt)
    state['state_dict'] = {k: v + 1 if v.is_floating_point() else v
                           for k, v in state['state_dict'].items()}
    torch.save(state, other)
    stderr = run_tool_failing(
        'tools/train.py', config, '--work-dir',
        str(tmp / 'cache_bad'), '--cfg-options',
        f'model.teacher_cache={cache_dir}', f'model.teacher_ckpt={other}')
    assert 'was built for another teacher' in stderr

    # a pipeline with photometric distortion cannot be keyed
    stderr = run_tool_failing(
        'tools/cache_teacher.py', DISTILL, '--out',
        str(tmp / 'cache_aug'), '--cfg-options',
        f'model.teacher_ckpt={cfg.model.teacher_ckpt}')
    assert 'PhotoMetricDistortion, which a teacher cache cannot key' in (
        stderr)

    # compressed: top-2 of the 11 classes at half resolution, smaller and
    # still close to the live teacher's loss
    small_dir = str(tmp / 'cache_small')
    log = run_tool('tools/cache_teacher.py', config, '--out', small_dir,
                   '--topk', '2', '--pool', '2')
    small = TeacherCache.load(small_dir, cache.fingerprint)
    assert small.nbytes() < cache.nbytes() / 4
    model.teacher_cache = small
    with torch.no_grad():
        approx = model(**data, mode='loss')['distill.loss_cwd_logits']
    assert abs(approx.item() - live.item()) < 0.25 * live.item()


def test_demo_end_to_end(setup):
    """The main job on a tiny DigitScenes: three models, a table, curves."""
    work_dir = str(setup['tmp'] / 'demo')
    data = setup['data']
    log = run_tool(
        'tools/demo.py', '--work-dir', work_dir, '--cfg-options',
        'train_cfg.max_iters=4', 'train_cfg.val_interval=2',
        'default_hooks.checkpoint.interval=4',
        *[f'{loader}.dataset.data_root={data}'
          for loader in ('train_dataloader', 'val_dataloader',
                         'test_dataloader')],
        # the tiny 128 px data as they are (the demo's configs would
        # generate 256 px canvases there)
        *[f'{loader}.dataset.auto_generate=False'
          for loader in ('train_dataloader', 'val_dataloader',
                         'test_dataloader')],
        *[f'{loader}.batch_size=2'
          for loader in ('train_dataloader', 'val_dataloader',
                         'test_dataloader')])
    with open(osp.join(work_dir, 'results.json')) as f:
        results = json.load(f)
    assert set(results) == {'teacher', 'student', 'distilled'}
    for name, metrics in results.items():
        assert f"{metrics['mIoU']:>8.2f}{metrics['mBIoU']:>8.2f}" in log, name
    assert 'distilled student (BPKD)' in log
    with open(osp.join(work_dir, 'distilled', 'train.log')) as f:
        train_log = f.read()
    assert 'distill.loss_edge' in train_log
    assert 'distill.loss_body' in train_log
    assert osp.getsize(osp.join(work_dir, 'curves.png')) > 10_000
    # a second run reuses every step
    log = run_tool('tools/demo.py', '--work-dir', work_dir, '--cfg-options',
                   'train_cfg.max_iters=4')
    assert log.count('reusing') == 3


@pytest.mark.parametrize('argv,threads', [([], '1'),
                                          (['--no-side-by-side'], None)])
def test_demo_trains_teacher_and_student_side_by_side(
        tmp_path, monkeypatch, argv, threads):
    """Teacher and student baseline start together with one thread each
    (the distilled student waits for the teacher); with
    --no-side-by-side they run one after the other with the default
    threads."""
    import threading
    demo = load_tool('demo')
    started, release = [], threading.Event()

    def fake_train(config, work_dir, seed, options, env=None):
        started.append((osp.basename(work_dir), (env or {}).get(
            'OMP_NUM_THREADS')))
        if osp.basename(work_dir) == 'teacher' and threads:
            # returns only once the student has started next to it
            assert release.wait(10), 'the student did not start in parallel'
        if osp.basename(work_dir) == 'student':
            release.set()
        return osp.join(work_dir, 'iter_2.pth')

    monkeypatch.setattr(demo, 'train', fake_train)
    monkeypatch.setattr(demo, 'test', lambda *a: dict(
        mIoU=1.0, mBIoU=1.0, aAcc=1.0))
    monkeypatch.setattr(demo, 'plot', lambda *a: None)
    demo.run_demo(demo.parse_args(['--work-dir', str(tmp_path), *argv]))
    assert sorted(started[:2]) == [('student', threads),
                                   ('teacher', threads)]
    assert started[2] == ('distilled', None)
