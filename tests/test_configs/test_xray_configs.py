# Copyright (c) mmkd contributors. All rights reserved.
"""X-Ray's configs: names, roles and infos; each one trains 2 iterations
through ``Runner.from_cfg`` on a tiny SimScenes made Object-Complete by
the generator (the nuScenes ones on it as a nuScenes-format stand-in, on
shrunk grids); wrong infos are refused before training."""
import functools
import glob
import os
import os.path as osp
import re

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from mmkd_testing import ROOT, save_random_teacher
from xray_standins import (object_complete_root, shrink_centerpoint,
                           shrink_distill_model)

CONFIGS = osp.join(ROOT, 'configs', 'xray')
SIM = 'centerpoint_pillar04-small_second-secfpn_20e_simscenes'
SIM_XRAY = ('xray_centerpoint-pillar04-small-oc_centerpoint-pillar04-'
            'small_20e_simscenes')
# X-Ray with its detection term (the teacher's boxes as extra targets)
SIM_XRAY_DET = SIM_XRAY.replace('xray_', 'xray-det_', 1)
NUS = {
    kind: (f'centerpoint_{kind}_second-secfpn_head-circlenms_20e_nus',
           f'xray_centerpoint-{kind}-oc_centerpoint-{kind}_20e_nus')
    for kind in ('voxel0075', 'pillar02')
}


def config(name):
    return Config.fromfile(osp.join(CONFIGS, name + '.py'))


def train_dataset(cfg):
    dataset = cfg.train_dataloader.dataset
    while 'ann_file' not in dataset:
        dataset = dataset.dataset
    return dataset


def test_names_roles_and_infos():
    names = sorted(
        osp.basename(f)[:-3] for f in glob.glob(osp.join(CONFIGS, '*.py')))
    xray = [n for n in names if n.startswith('xray')]
    assert sorted(xray) == sorted([SIM_XRAY] + [v[1] for v in NUS.values()] +
                                  list(ABLATIONS) + [SIM_XRAY_DET])
    for name in xray:
        # xray[-<variant>]_<teacher>_<student>_<schedule>_<dataset>
        assert re.fullmatch(
            r'xray(-feat|-resp|-det)?_[\w.-]+-oc_[\w.-]+_20e_(simscenes|nus)',
            name), name
        cfg = config(name)
        teacher = cfg.model.teacher.cfg_path
        stem = osp.basename(teacher)[:-3]
        assert osp.isfile(teacher) and stem.endswith('-oc')
        assert stem + '/' in cfg.model.teacher_ckpt
        assert cfg.model.teacher_view and cfg.model.teacher_mode == 'loss'
        assert train_dataset(cfg).ann_file.endswith('_xray-student.pkl')
        assert train_dataset(
            Config.fromfile(teacher)).ann_file.endswith('_xray-teacher.pkl')
        # the student is the baseline's model
        baseline = config(stem[:-len('-oc')])
        assert cfg.model.student == baseline.model
        assert not any(t['type'] == 'ObjectSample'
                       for t in train_dataset(cfg).pipeline)
    for base, _ in NUS.values():
        assert config(base).zoo_checkpoint.startswith(
            'https://download.openmmlab.com/mmdetection3d/')
    # the SimScenes baseline is configs/sim_scenes' detector, unchanged
    sim = Config.fromfile(
        osp.join(ROOT, 'configs/sim_scenes/centerpoint_pillar04-small_'
                 'second_secfpn_20e_simscenes-3d.py'))
    baseline = config(SIM)
    assert baseline.model == sim.model
    assert baseline.train_dataloader == sim.train_dataloader


@pytest.fixture(scope='module')
def xray_root(tiny_simscenes, tmp_path_factory):
    return object_complete_root(
        tiny_simscenes, str(tmp_path_factory.mktemp('xray') / 'simscenes'))


def on_stand_in(cfg, root, work_dir, cell=3.2):
    """Train 2 iterations of batch 1 (SGD) on the tiny root, no validation,
    a ``cell``-metre grid; a DistillModel gets a random teacher checkpoint.
    nuScenes configs read SimScenes' infos of the same role, without CBGS
    (it needs every class present)."""
    dataset = train_dataset(cfg)
    dataset.data_root = root
    dataset.ann_file = re.sub(r'^nuscenes_', 'simscenes_', dataset.ann_file)
    cfg.train_dataloader.dataset = dataset
    cfg.train_dataloader.batch_size = 1
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2)
    for key in ('val', 'test'):
        cfg[f'{key}_cfg'] = cfg[f'{key}_dataloader'] = None
        cfg[f'{key}_evaluator'] = None
    cfg.param_scheduler = []
    # AdamW's update of the full-width models took most of a step
    cfg.optim_wrapper = dict(
        type='OptimWrapper', optimizer=dict(type='SGD', lr=1e-4))
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=100)
    cfg.work_dir = work_dir
    extent = cfg.point_cloud_range[3]
    if cfg.model.type == 'mmkd.DistillModel':
        cfg.model = shrink_distill_model(cfg.model, cell, extent)
        from mmkd.models.distillers.teacher import resolve_model_cfg
        cfg.model.teacher_ckpt = save_random_teacher(
            resolve_model_cfg(cfg.model.teacher, 'teacher'),
            osp.join(work_dir, 'teacher.pth'), 'mmdet3d')
    else:
        cfg.model = shrink_centerpoint(cfg.model, cell, extent)
    return cfg


def train(cfg):
    runner = Runner.from_cfg(cfg)
    runner.train()
    return {
        k[len('train/'):]: v.current()
        for k, v in runner.message_hub.log_scalars.items() if 'loss' in k
    }


def load_val_frame(cfg, root, seed):
    """The points (P, 5) of the last val frame of ``root`` (the first has
    no sweeps) through ``cfg``'s test pipeline, numpy's global generator
    seeded with ``seed`` first."""
    import numpy as np
    from mmdet3d.registry import DATASETS
    init_default_scope('mmdet3d')
    dataset = cfg.test_dataloader.dataset.copy()
    dataset.update(data_root=root, ann_file='simscenes_infos_val.pkl')
    np.random.seed(seed)
    return DATASETS.build(dataset)[-1]['inputs']['points']


@pytest.mark.parametrize('name', [SIM, SIM + '-oc', SIM_XRAY])
def test_simscenes_tests_load_the_same_sweeps_every_time(
        xray_root, name):
    """mmdet3d's nuScenes CenterPoint test pipeline leaves
    LoadPointsFromMultiSweeps' test_mode off: it draws 9 of a keyframe's 10
    sweeps at random in every test (two tests of the X-Ray teacher gave
    27.76 and 28.06 mAP on SimScenes val). The SimScenes configs take the
    nearest: a val frame loads alike whatever the generator's state (one
    sweep of the tiny root's two, where a random draw does differ)."""
    cfg = config(name)
    for key in ('val_dataloader', 'test_dataloader'):
        [sweeps] = [
            t for t in cfg[key].dataset.pipeline
            if t.type == 'LoadPointsFromMultiSweeps'
        ]
        assert sweeps.test_mode is True, key
    [sweeps] = [
        t for t in cfg.test_dataloader.dataset.pipeline
        if t.type == 'LoadPointsFromMultiSweeps'
    ]
    sweeps.sweeps_num = 1
    first = load_val_frame(cfg, xray_root, 0)
    assert all(
        load_val_frame(cfg, xray_root, seed).equal(first)
        for seed in range(1, 6))
    sweeps.test_mode = False  # mmdet3d's: some draw takes the other sweep
    assert not all(
        load_val_frame(cfg, xray_root, seed).equal(first)
        for seed in range(1, 6))


@pytest.mark.parametrize('name', [SIM, SIM + '-oc', SIM_XRAY])
def test_simscenes_configs_train(xray_root, tmp_path, name):
    losses = train(on_stand_in(config(name), xray_root, str(tmp_path)))
    assert losses['task0.loss_heatmap'] > 0
    distill = {k for k in losses if k.startswith('distill.')}
    if name.startswith('xray_'):
        assert distill == {
            'distill.loss_feature', 'distill.loss_heatmap',
            'distill.loss_regression'
        }
        # (the regression maps' loss is 0 when no box covers a cell
        # centre of the shrunk head map)
        assert losses['distill.loss_feature'] > 0
        assert losses['distill.loss_heatmap'] > 0
        total = sum(v for k, v in losses.items() if k != 'loss')
        assert losses['loss'] == pytest.approx(total, rel=1e-4)
    else:
        assert not distill


def test_nuscenes_pillar_xray_trains_on_the_stand_in(xray_root, tmp_path):
    """mmdet3d's CenterPoint-pillar pipeline and models (the grid shrunk
    to 6.4 m pillars) with X-Ray's two clouds."""
    cfg = on_stand_in(config(NUS['pillar02'][1]), xray_root, str(tmp_path),
                      cell=6.4)
    losses = train(cfg)
    assert losses['distill.loss_feature'] > 0
    assert losses['distill.loss_heatmap'] > 0
    assert 'distill.loss_regression' in losses


@pytest.mark.parametrize('kind', list(NUS))
def test_nuscenes_models_build_at_paper_size(tmp_path, kind):
    """Both detectors of each nuScenes X-Ray config at full size: the taps
    resolve on mmdet3d's CenterPoint. (The voxel model's sparse
    convolutions have no CPU kernels: it is not run here.)"""
    from mmkd.models.distillers.teacher import resolve_model_cfg
    cfg = config(NUS[kind][1])
    teacher = resolve_model_cfg(cfg.model.teacher, 'teacher')
    cfg.model.teacher_ckpt = save_random_teacher(
        teacher, str(tmp_path / 'teacher.pth'), 'mmdet3d')
    init_default_scope('mmdet3d')
    from mmdet3d.registry import MODELS
    model = MODELS.build(cfg.model)
    assert len(model.student_taps.cfgs) == 1 + 6 + 30
    assert type(model.teacher).__name__ == 'CenterPoint'


def check(name, root, **kwargs):
    from mmkd.registry import HOOKS
    cfg = config(name)
    train_dataset(cfg).data_root = root
    hook = HOOKS.build(
        dict(type='XRayInfosCheckHook',
             role='student' if name.startswith('xray_') else 'teacher',
             **kwargs))
    hook.check(cfg)
    return cfg


def test_wrong_infos_are_refused(xray_root, tmp_path):
    check(SIM + '-oc', xray_root)
    check(SIM_XRAY, xray_root)
    # a teacher config on the normal frames
    cfg = config(SIM + '-oc')
    train_dataset(cfg).data_root = xray_root
    train_dataset(cfg).ann_file = 'simscenes_infos_train.pkl'
    from mmkd.methods.xray import XRayInfosCheckHook
    with pytest.raises(ValueError,
                       match=r"teacher config .* trains on .*simscenes_infos_"
                       r"train.pkl', not on X-Ray teacher infos"):
        XRayInfosCheckHook('teacher').check(cfg)
    # a teacher config on the student's infos
    train_dataset(cfg).ann_file = 'simscenes_infos_train_xray-student.pkl'
    with pytest.raises(ValueError, match='X-Ray student infos, but needs '
                       'the teacher infos'):
        XRayInfosCheckHook('teacher').check(cfg)
    # an X-Ray student whose teacher config trains on the normal frames
    # (its default data/simscenes: read where it exists, else judged by the
    # file name)
    baseline = osp.join(CONFIGS, SIM + '.py')
    with pytest.raises(ValueError,
                       match=r"teacher config .*simscenes.py' trains on "
                       r".*simscenes_infos_train.pkl', not on (X-Ray )?"
                       'teacher infos'):
        check(SIM_XRAY, xray_root, teacher_configs=[baseline])
    # a missing Object-Complete frame, named
    name = sorted(os.listdir(osp.join(xray_root, 'samples/LIDAR_TOP')))[0]
    patched = osp.join(xray_root, 'samples/LIDAR_TOP_PATCHED', name)
    moved = str(tmp_path / name)
    os.rename(patched, moved)
    try:
        with pytest.raises(FileNotFoundError,
                           match=f'Object-Complete frame .*{name}.* is '
                           'missing'):
            check(SIM_XRAY, xray_root)
    finally:
        os.rename(moved, patched)


HOOK = osp.join(
    ROOT, 'projects/distill_hook_mmdet3d/configs/'
    'centerpoint_pillar04-small_simscenes_xray-hook.py')
# every X-Ray student: (config, its baseline, its teacher)
STUDENTS = {
    SIM_XRAY: (osp.join(CONFIGS, SIM_XRAY + '.py'), SIM),
    'hook': (HOOK, SIM),
    **{
        xray: (osp.join(CONFIGS, xray + '.py'), base)
        for base, xray in NUS.values()
    }
}
# the two-cloud training pipeline of every X-Ray student, as the configs
# resolved when each one wrote it out in full (before the shared
# configs/xray/_base_/xray_student.py): type, wrapped types
TWO_CLOUDS = [
    ('mmkd.LoadTeacherPoints',
     ['LoadPointsFromFile', 'LoadPointsFromMultiSweeps']),
    ('LoadAnnotations3D', []),
    ('mmkd.SharedAugment',
     ['GlobalRotScaleTrans', 'RandomFlip3D', 'PointsRangeFilter']),
    ('ObjectRangeFilter', []),
    ('ObjectNameFilter', []),
    ('PointShuffle', []),
    ('KeyMapper', ['PointShuffle']),
    ('mmkd.PackTeacherView', []),
]
VIEWS = dict(points='teacher_points')


@functools.lru_cache(maxsize=None)
def parsed(path):
    """A config parsed once per session (mmdet3d's bases take seconds);
    not to be changed."""
    return Config.fromfile(path)


def distiller_of(cfg):
    """The DistillModel's settings, or the DistillHook's; the student."""
    if cfg.model.type == 'mmkd.DistillModel':
        distiller = cfg.model.to_dict()
        return distiller, distiller.pop('student')
    hook = next(h for h in cfg.custom_hooks if h.type == 'mmkd.DistillHook')
    return hook.to_dict(), cfg.model.to_dict()


@pytest.mark.parametrize('student', list(STUDENTS))
def test_students_resolve_as_recorded(student):
    """Each X-Ray student resolves to the pipeline, distiller and hooks it
    had when written out in full: the baseline's point loaders and BEV
    augmentation wrapped for two clouds, its own object filters and
    packing, the fragment's taps and losses with the footprint mask on
    the detector's range, the teacher its ``-oc`` config."""
    path, base = STUDENTS[student]
    cfg = parsed(path)
    baseline = parsed(osp.join(CONFIGS, base + '.py'))
    range_ = baseline.point_cloud_range
    pipeline = train_dataset(cfg).pipeline
    assert [(t['type'], [w['type'] for w in t.get('transforms', [])])
            for t in pipeline] == TWO_CLOUDS
    own = [t for t in baseline.train_pipeline if t['type'] != 'ObjectSample']
    assert [t.to_dict() for t in pipeline[0].transforms] == [
        t.to_dict() for t in own[:2]]
    assert [t.to_dict() for t in pipeline[2].transforms] == [
        t.to_dict() for t in own[3:6]]
    assert pipeline[2].views == VIEWS
    assert pipeline[1].to_dict() == dict(
        type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True)
    assert pipeline[3].to_dict() == dict(
        type='ObjectRangeFilter', point_cloud_range=range_)
    assert pipeline[4].to_dict() == dict(
        type='ObjectNameFilter', classes=baseline.class_names)
    assert pipeline[5].to_dict() == dict(type='PointShuffle')
    assert pipeline[6].to_dict() == dict(
        type='KeyMapper', mapping=VIEWS,
        transforms=[dict(type='PointShuffle')])
    assert pipeline[7].to_dict() == dict(
        type='mmkd.PackTeacherView', views=VIEWS,
        pack=dict(type='Pack3DDetInputs',
                  keys=['points', 'gt_bboxes_3d', 'gt_labels_3d']))
    assert cfg.train_pipeline == pipeline
    assert train_dataset(cfg).ann_file == train_dataset(
        baseline).ann_file.replace('.pkl', '_xray-student.pkl')

    distiller, model = distiller_of(cfg)
    assert model == baseline.model.to_dict()
    teacher = distiller.pop('teacher')
    assert osp.realpath(teacher.pop('cfg_path')) == osp.join(
        CONFIGS, base + '-oc.py') and not teacher
    fragment = parsed(
        osp.join(ROOT, 'configs/_base_/distill/xray_centerpoint.py'))
    assert len(fragment.xray_taps) == 1 + 6 + 30
    losses = fragment.xray_losses.to_dict()
    losses['regression'].update(
        mask=dict(type='BEVBoxFootprintMask', point_cloud_range=range_),
        mask_average=True)
    assert distiller == dict(
        type=distiller['type'],
        teacher_ckpt=f'work_dirs/{base}-oc/epoch_20.pth',
        teacher_view=True,
        teacher_mode='loss',
        taps=dict(student=fragment.xray_taps.to_dict(),
                  teacher=fragment.xray_taps.to_dict()),
        losses=losses)
    assert [(h.type, h.get('role')) for h in cfg.custom_hooks
            if h.type != 'mmkd.DistillHook'] == [('mmkd.XRayInfosCheckHook',
                                                  'student')]
    if student != SIM_XRAY:
        assert cfg.custom_imports == dict(
            imports=['mmkd'], allow_failed_imports=False)


# X-Ray's SimScenes ablations: the full student's loss terms they keep
ABLATIONS = {
    SIM_XRAY.replace('xray_', f'xray-{kind}_', 1): terms
    for kind, terms in (('feat', ['feature']),
                        ('resp', ['heatmap', 'regression']))
}


@pytest.mark.parametrize('name', list(ABLATIONS))
def test_ablations_build_with_their_terms_only(tmp_path, name):
    """The feature-only and response-only students: the built distiller
    has exactly the kept terms, configured as in the full X-Ray student;
    everything else is the full student's."""
    full, cfg = parsed(osp.join(CONFIGS, SIM_XRAY + '.py')), config(name)
    kept = ABLATIONS[name]
    assert cfg.model.losses == {key: full.model.losses[key] for key in kept}
    for key in ('student', 'teacher', 'teacher_ckpt', 'taps',
                'teacher_view', 'teacher_mode'):
        assert cfg.model[key] == full.model[key], key
    assert cfg.train_dataloader == full.train_dataloader
    assert cfg.custom_hooks == full.custom_hooks

    from mmkd.models.distillers.teacher import resolve_model_cfg
    model_cfg = shrink_distill_model(cfg.model, 3.2, 51.2)
    model_cfg.teacher_ckpt = save_random_teacher(
        resolve_model_cfg(model_cfg.teacher, 'teacher'),
        str(tmp_path / 'teacher.pth'), 'mmdet3d')
    from mmdet3d.registry import MODELS
    model = MODELS.build(model_cfg)
    assert list(model.distiller.losses) == kept
    assert list(model.distiller.loss_masks) == [
        k for k in kept if k == 'regression'
    ]


def test_detection_term_variant_changes_only_the_model_type():
    """The detection-term config is the X-Ray student with
    mmkd.XRayDistillModel and a score threshold; nothing else differs."""
    det, xray = config(SIM_XRAY_DET).to_dict(), config(SIM_XRAY).to_dict()
    assert {k for k in set(det) | set(xray) if det.get(k) != xray.get(k)
            } == {'model'}
    model = dict(det['model'])
    assert (model.pop('type'), model.pop('detection_term')) == (
        'mmkd.XRayDistillModel', dict(score_thr=0.3))
    assert model == {k: v for k, v in xray['model'].items() if k != 'type'}
    assert xray['model']['type'] == 'mmkd.DistillModel'
