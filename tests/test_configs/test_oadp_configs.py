# Copyright (c) mmkd contributors. All rights reserved.
"""The OADP configs. DigitScenes end to end: a tiny generated OV
DigitScenes, OAKE caches written by the extraction library with a random
tiny CLIP and hand-made proposals, random text embeddings, 2 training
iterations with every DP loss, then the ensemble evaluated on the val
split. OV-COCO: its settings, its classes from tiny stand-in split files
(48/17), 2 iterations on a tiny COCO-format stand-in. OV-LVIS: its
settings, its model and dataset from tiny stand-in split files (866/337);
LVISMetric needs the `lvis` package (not built without it)."""
import importlib.util
import json
import math
import os
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from clip_standins import random_openai_clip
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmkd_testing import ROOT

from mmkd.engine.hooks.distill_loss_weight_hook import schedule_factor
from mmkd.methods.oadp import OAKE, dataset_samples, extract_oake
from mmkd.models.clip import save_text_embeddings

CONFIG = osp.join(ROOT, 'configs', 'oadp',
                  'oadp_faster-rcnn_r18_fpn_2k_ov-digit-scenes.py')
COCO_CONFIG = osp.join(ROOT, 'configs', 'oadp',
                       'oadp_faster-rcnn_r50_fpn_40k_ov-coco.py')
FAITHFUL_COCO_CONFIG = COCO_CONFIG.replace('.py', '_faithful-mll-ramps.py')
LVIS_CONFIG = osp.join(ROOT, 'configs', 'oadp',
                       'oadp_mask-rcnn_r50_fpn_24e_ov-lvis.py')
PROPOSALS_CONFIG = osp.join(
    ROOT, 'configs', 'oadp',
    'proposals_faster-rcnn_r18_fpn_2k_ov-digit-scenes.py')
# a random CLIP with ViT-B/32's geometry, 16-d embeddings
ARCH = dict(
    vision_width=64, vision_layers=1, patch_size=32, grid=7, embed_dim=16)
# 224 px canvases: block 0 and one 224 px window each
TINY = dict(num_train=4, num_val=2, img_size=224)
DIGITS = tuple(str(i) for i in range(10))


def relocate(node, paths: dict):
    """Point the config's files at the test's: dataset roots, OAKE caches,
    text embeddings, split summary; the student reads 64 px images."""
    if isinstance(node, list):
        for value in node:
            relocate(value, paths)
        return
    if not isinstance(node, dict):
        return
    kind = node.get('type')
    if 'data_root' in node:
        node['data_root'] = paths['data_root']
    if 'generate_cfg' in node:
        node['generate_cfg'] = TINY
    if kind == 'mmkd.LoadOAKERecords':
        node['oake_root'] = paths['oake']
        node['proposal_file'] = paths['proposals']
    if kind == 'mmkd.OADPViLDClassifier':
        node['embeddings'] = paths['vild']
    if kind == 'mmkd.OADPClassifier':
        node['embeddings'] = paths['ml']
    if 'ov_split' in node:
        node['ov_split'] = paths['ov_split']
    if kind == 'Resize':
        node['scale'] = (64, 64)
    if kind == 'RandomResize':
        node['scale'] = [(64, 64), (64, 64)]
    for value in node.values():
        relocate(value, paths)


def tiny_digit_scenes_cfg(config: str, paths: dict, work_dir: str):
    """A DigitScenes OADP config on the test's files: 2 iterations of
    batch 2, few RoIs."""
    cfg = Config.fromfile(config)
    relocate(cfg._cfg_dict, paths)
    cfg.val_evaluator.ann_file = osp.join(
        paths['data_root'], 'annotations/instances_val_ov_all.json')
    cfg.test_evaluator = cfg.val_evaluator
    cfg.train_dataloader.batch_size = 2
    cfg.val_dataloader.batch_size = 2
    cfg.train_cfg.update(max_iters=2, val_interval=100)
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=100, save_last=False)
    cfg.work_dir = work_dir
    cfg.log_level = 'WARNING'
    # fewer RoIs: seconds on a CPU
    cfg.model.train_cfg.rpn_proposal.max_per_img = 32
    cfg.model.train_cfg.rcnn.sampler.num = 16
    cfg.model.test_cfg.rpn.max_per_img = 16
    return cfg


@pytest.fixture(scope='module')
def digit_paths(tmp_path_factory):
    """A tiny OV DigitScenes, hand-made proposals, random text embeddings
    and the OAKE caches of a random tiny CLIP."""
    root = tmp_path_factory.mktemp('oadp')
    paths = dict(
        data_root=str(root / 'ds') + '/',
        oake=str(root / 'oake'),
        proposals=str(root / 'proposals.pkl'),
        vild=str(root / 'vild.pth'),
        ml=str(root / 'ml.pth'),
        work=str(root / 'work'))
    cfg = Config.fromfile(CONFIG)
    relocate(cfg._cfg_dict, paths)
    init_default_scope('mmdet')
    # the dataset is generated and split on first use
    samples = dataset_samples(cfg.train_dataloader.dataset, paths['data_root'])
    assert len(samples) == TINY['num_train']
    proposals = {
        s['key']:
        np.array([[10, 20, 90, 110, .9], [120, 100, 200, 180, .7],
                  [0, 0, 2, 2, .5]], np.float32)
        for s in samples
    }
    proposals[samples[-1]['key']] = np.zeros((0, 5), np.float32)
    with open(paths['proposals'], 'wb') as f:
        pickle.dump(proposals, f)
    torch.manual_seed(0)
    for name in ('vild', 'ml'):
        save_text_embeddings(paths[name], DIGITS,
                             F.normalize(torch.randn(10, 16), dim=-1))
    clip = random_openai_clip(dtype=torch.float32, **ARCH)
    extract_oake(
        cfg.train_dataloader.dataset,
        OAKE(clip),
        paths['oake'],
        proposal_file=paths['proposals'],
        data_root=paths['data_root'])
    return paths


@pytest.fixture(scope='module')
def cfg(digit_paths):
    return tiny_digit_scenes_cfg(CONFIG, digit_paths, digit_paths['work'])


def test_config_classes_are_the_dataset_split():
    cfg = Config.fromfile(CONFIG)
    assert cfg.classes == DIGITS == tuple(cfg.metainfo['classes'])
    assert cfg.base_classes == tuple(cfg.metainfo['base_classes'])
    assert cfg.val_evaluator.max_dets == 300
    assert cfg.model.test_cfg.rcnn.max_per_img == 300


def test_resolved_config_is_the_one_before_the_shared_base():
    """The OADP block moved to _base_/models/oadp_dp.py: the resolved
    DigitScenes config (model, hooks, data, schedule) is unchanged, as
    recorded before the move, but for the train pipeline's three
    ``mmkd.LoadCachedRecords``, now one ``mmkd.LoadOAKERecords`` (the same
    results: tests/test_methods/test_oadp_transforms.py), and the 64-channel
    convs of the bbox and object heads and the checkpoint interval of 250
    (added to the record after)."""
    cfg = json.loads(json.dumps(Config.fromfile(CONFIG).to_dict()))
    with open(
            osp.join(ROOT, 'tests', 'data',
                     osp.basename(CONFIG)[:-3] + '.json')) as f:
        recorded = json.load(f)
    for key, value in recorded.items():
        assert cfg[key] == value, key


def test_proposal_network_and_student_share_the_recipe():
    """Both DigitScenes configs take the detector recipe from
    _base_/schedules/digit_scenes_detection_2k.py (on mmdet's runtime);
    the student adds only the bbox head's half learning rate."""
    student = Config.fromfile(CONFIG)
    proposals = Config.fromfile(PROPOSALS_CONFIG)
    for key in ('param_scheduler', 'train_cfg', 'val_cfg', 'test_cfg',
                'randomness', 'default_hooks', 'log_processor',
                'default_scope', 'env_cfg'):
        assert proposals[key] == student[key], key
    optim = student.optim_wrapper.to_dict()
    assert optim.pop('paramwise_cfg') == dict(
        custom_keys={'roi_head.bbox_head': dict(lr_mult=0.5)})
    assert proposals.optim_wrapper == optim == dict(
        type='OptimWrapper',
        optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4),
        clip_grad=dict(max_norm=10.0))
    assert (proposals.train_cfg.max_iters,
            proposals.param_scheduler[-1].end) == (2000, 2000)
    hooks = proposals.default_hooks
    assert (hooks.checkpoint.by_epoch, hooks.checkpoint.interval,
            hooks.timer.type) == (False, 250, 'IterTimerHook')
    assert proposals.model.type == 'FasterRCNN'


def test_config_dumps_as_python():
    """The Runner logs and saves the config as Python: no loss name may be
    a keyword (``dict(global=...)``)."""
    compile(Config.fromfile(CONFIG).pretty_text, 'dump.py', 'exec')


def test_ramps_at_steps_1_and_200():
    """gain * min(step / end, 1) with step = runner.iter + 1."""
    cfg = Config.fromfile(CONFIG)
    (hook, ) = [
        h for h in cfg.custom_hooks if h.type == 'mmkd.DistillLossWeightHook'
    ]
    ends = dict(
        clip_objects=200,
        clip_blocks=200,
        clip_block_relations=200,
        clip_global=200,
        block_mll=1000,
        global_mll=2000)
    assert set(hook.schedules) == set(ends)
    for name, end in ends.items():
        schedule = hook.schedules[name]
        for step in (1, 2, 200, end - 1, end, end + 1, 40000):
            assert schedule_factor(schedule, step - 1) == pytest.approx(
                min(step / end, 1.0)), (name, step)
    # with the gains: at step 1 and 200
    model = cfg.model
    gains = dict(
        clip_objects=model.roi_head.object_head.loss_distill.loss_weight,
        block_mll=model.roi_head.block_head.loss_cls.loss_weight,
        global_mll=model.global_head.loss_cls.loss_weight)
    assert gains == dict(clip_objects=256, block_mll=16, global_mll=4)
    assert [
        gains['clip_objects'] *
        schedule_factor(hook.schedules['clip_objects'], step - 1)
        for step in (1, 200)
    ] == pytest.approx([256 / 200, 256])
    assert [
        gains['block_mll'] *
        schedule_factor(hook.schedules['block_mll'], step - 1)
        for step in (1, 200)
    ] == pytest.approx([16 / 1000, 16 * 200 / 1000])


def test_two_iterations_and_evaluation(cfg):
    runner = Runner.from_cfg(cfg.copy())
    model = runner.model
    assert type(model).__name__ == 'OADPDetector'
    runner.train()
    assert runner.iter == 2
    hub = runner.message_hub
    for name, end in (('clip_objects', 200), ('clip_blocks', 200),
                      ('clip_block_relations', 200), ('clip_global', 200),
                      ('block_mll', 1000), ('global_mll', 2000)):
        loss = hub.get_scalar(f'train/loss_{name}').current()
        assert math.isfinite(loss) and loss >= 0, name
        # the second iteration: step 2
        scale = hub.get_scalar(f'train/distill.scale_{name}').current()
        assert scale == pytest.approx(2 / end), name
    assert hub.get_scalar('train/loss_clip_objects').current() > 0
    metrics = runner.val_loop.run()
    # the 2 val canvases may show no novel digit: AP50 NaN
    assert 0.0 <= metrics['coco/bbox_AP50_base'] <= 1.0
    novel = metrics['coco/bbox_AP50_novel']
    assert math.isnan(novel) or 0.0 <= novel <= 1.0


def test_samples_without_records_are_refused(cfg):
    from mmdet.structures import DetDataSample
    from mmkd.registry import MODELS
    init_default_scope('mmdet')
    model = MODELS.build(cfg.model)
    with pytest.raises(
            KeyError,
            match=r"has no 'oake_objects_records'; load the OAKE caches "
            r"with mmkd.LoadOAKERecords\(prefix='oake_'\) \(the objects "
            r"cache alone: mmkd.LoadCachedRecords\("
            r"prefix='oake_objects_'\)\)"):
        model.records([DetDataSample()], 'objects')


TEXT_CONFIG = osp.join(
    ROOT, 'configs', 'oadp',
    'text-classifier_faster-rcnn_r18_fpn_2k_ov-digit-scenes.py')
ORACLE_CONFIG = TEXT_CONFIG.replace('.py', '-oracle.py')
OBJECT_CONFIG = osp.join(
    ROOT, 'configs', 'oadp',
    'oadp-object_faster-rcnn_r18_fpn_2k_ov-digit-scenes.py')


def test_benchmark_rows_differ_from_the_student_only_where_they_say():
    """The text-classifier baseline is the DP student's detector, pipeline,
    recipe and test settings without distillation; the oracle adds the
    novel labels; object-only drops the block and global heads."""
    student, text = Config.fromfile(CONFIG), Config.fromfile(TEXT_CONFIG)
    for key in ('optim_wrapper', 'param_scheduler', 'train_cfg',
                'val_evaluator', 'test_dataloader', 'default_hooks'):
        assert text[key] == student[key], key
    for part in ('backbone', 'neck', 'rpn_head', 'train_cfg', 'test_cfg',
                 'data_preprocessor'):
        assert text.model[part] == student.model[part], part
    for key in ('bbox_roi_extractor', 'bbox_head'):
        assert text.model.roi_head[key] == student.model.roi_head[key], key
    # the 4conv1fc heads at the FPN's width (a CPU budget, every row alike)
    heads = student.model.roi_head
    assert heads.bbox_head.conv_out_channels == \
        heads.object_head.conv_out_channels == student.model.neck.out_channels
    assert (text.model.type, text.model.roi_head.type) == ('FasterRCNN',
                                                           'StandardRoIHead')
    assert 'custom_hooks' not in text
    oake = [
        t.type for t in student.train_pipeline
        if t.type not in ('mmkd.LoadOAKERecords', 'mmkd.PackCachedRecords')
    ]
    assert [t.type for t in text.train_pipeline] == oake + ['PackDetInputs']
    oracle = Config.fromfile(ORACLE_CONFIG)
    assert oracle.train_dataloader.dataset.ann_file == \
        'annotations/instances_train.json'
    assert oracle.model.roi_head.bbox_head.cls_predictor_cfg.base_classes \
        == DIGITS
    objects = Config.fromfile(OBJECT_CONFIG)
    assert objects.model.roi_head.block_head is None
    assert objects.model.global_head is None
    (hook, ) = objects.custom_hooks
    assert hook.schedules == dict(
        clip_objects=student.custom_hooks[0].schedules.clip_objects)


def test_text_classifier_baseline_learns_without_teacher(digit_paths):
    cfg = tiny_digit_scenes_cfg(TEXT_CONFIG, digit_paths,
                                digit_paths['work'] + '_text')
    runner = Runner.from_cfg(cfg)
    runner.train()
    classifier = runner.model.roi_head.bbox_head.fc_cls
    # novel digits 7-9 (then the background): no labels, no logits in
    # training
    assert classifier.novel.tolist() == [False] * 7 + [True] * 3 + [False]
    logs = runner.message_hub.log_scalars
    assert 'train/loss_cls' in logs
    assert not [k for k in logs if 'clip' in k or 'mll' in k]
    metrics = runner.val_loop.run()
    assert 0.0 <= metrics['coco/bbox_AP50_base'] <= 1.0


def test_oracle_trains_on_the_novel_labels(digit_paths):
    cfg = tiny_digit_scenes_cfg(ORACLE_CONFIG, digit_paths,
                                digit_paths['work'] + '_oracle')
    init_default_scope('mmdet')
    from mmdet.registry import DATASETS
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    labels = {
        int(i['bbox_label'])
        for k in range(len(dataset))
        for i in dataset.get_data_info(k)['instances']
    }
    assert labels & {7, 8, 9}
    runner = Runner.from_cfg(cfg)
    assert not runner.model.roi_head.bbox_head.fc_cls.novel.any()
    runner.train()
    assert runner.iter == 2


def test_object_only_distils_the_objects_alone(digit_paths):
    cfg = tiny_digit_scenes_cfg(OBJECT_CONFIG, digit_paths,
                                digit_paths['work'] + '_objects')
    runner = Runner.from_cfg(cfg)
    runner.train()
    hub = runner.message_hub
    assert hub.get_scalar('train/loss_clip_objects').current() > 0
    assert hub.get_scalar(
        'train/distill.scale_clip_objects').current() == pytest.approx(2 / 200)
    assert not [
        k
        for k in hub.log_scalars if 'block' in k or 'global' in k or 'mll' in k
    ]


def write_caches(dataset_cfg, paths: dict, names, boxes) -> None:
    """Proposals (``boxes`` for every training image), random text
    embeddings of ``names`` and the OAKE caches of a random tiny CLIP."""
    init_default_scope('mmdet')
    samples = dataset_samples(dataset_cfg, paths['data_root'])
    with open(paths['proposals'], 'wb') as f:
        pickle.dump({s['key']: np.array(boxes, np.float32)
                     for s in samples}, f)
    torch.manual_seed(0)
    for name in ('vild', 'ml'):
        save_text_embeddings(paths[name], names,
                             F.normalize(torch.randn(len(names), 16), dim=-1))
    extract_oake(
        dataset_cfg,
        OAKE(random_openai_clip(dtype=torch.float32, **ARCH)),
        paths['oake'],
        proposal_file=paths['proposals'],
        data_root=paths['data_root'])


def fewer_rois(cfg) -> None:
    """Seconds on a CPU: few RoIs, no workers, no pretrained weights."""
    cfg.model.backbone.init_cfg = None
    cfg.model.train_cfg.rpn_proposal.max_per_img = 32
    cfg.model.train_cfg.rcnn.sampler.num = 16
    cfg.model.test_cfg.rpn.max_per_img = 16
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        loader.update(num_workers=0, persistent_workers=False)


def coco_paths(root) -> dict:
    data_root = str(root / 'coco') + '/'
    return dict(
        data_root=data_root,
        oake=str(root / 'oake'),
        proposals=str(root / 'proposals.pkl'),
        vild=str(root / 'vild.pth'),
        ml=str(root / 'ml.pth'),
        ov_split=data_root + 'annotations/ov_split.json')


@pytest.fixture(scope='module')
def coco_cfg(tmp_path_factory):
    from ov_coco_standins import write_fake_coco

    from mmkd.datasets.open_vocabulary import (OV_COCO_BASE_CLASSES,
                                               OV_COCO_CLASSES,
                                               OV_COCO_NOVEL_CLASSES,
                                               write_ov_splits)
    root = tmp_path_factory.mktemp('oadp_coco')
    paths = coco_paths(root)
    ann_dir = osp.join(
        write_fake_coco(paths['data_root'], with_images=True), 'annotations')
    # what tools/dataset_converters/ov_split.py coco writes
    write_ov_splits(
        osp.join(ann_dir, 'instances_train2017.json'),
        osp.join(ann_dir, 'instances_val2017.json'), OV_COCO_BASE_CLASSES,
        OV_COCO_NOVEL_CLASSES, ann_dir)
    cfg = Config.fromfile(COCO_CONFIG)
    relocate(cfg._cfg_dict, paths)
    cfg.val_evaluator.ann_file = osp.join(ann_dir,
                                          'instances_val2017_ov_all.json')
    cfg.test_evaluator = cfg.val_evaluator
    write_caches(cfg.train_dataloader.dataset, paths, OV_COCO_CLASSES,
                 [[2, 2, 20, 20, .9], [10, 4, 30, 28, .6]])
    fewer_rois(cfg)
    cfg.train_dataloader.batch_size = 2
    cfg.val_dataloader.batch_size = 4
    # validated once, by the test
    cfg.train_cfg.update(max_iters=2, val_interval=100, val_begin=100)
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=100, save_last=False)
    cfg.work_dir = str(root / 'work')
    cfg.log_level = 'WARNING'
    return cfg


def test_ov_coco_settings():
    cfg = Config.fromfile(COCO_CONFIG)
    assert cfg.optim_wrapper.optimizer == dict(
        type='SGD', lr=0.02, momentum=0.9, weight_decay=2.5e-5)
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys == {
        'roi_head.bbox_head': dict(lr_mult=0.5)
    }
    assert cfg.train_cfg.type == 'IterBasedTrainLoop'
    assert cfg.train_cfg.max_iters == 40000
    (warmup, step) = cfg.param_scheduler
    assert (step.type, step.milestones, step.by_epoch) == ('MultiStepLR',
                                                           [30000], False)
    assert (warmup.end, warmup.start_factor) == (500, 0.001)
    heads = cfg.model.roi_head
    vild = heads.bbox_head.cls_predictor_cfg
    assert (vild.type, vild.train_temperature,
            vild.test_temperature) == ('mmkd.OADPViLDClassifier', 0.007, 0.01)
    for classifier in (heads.object_head.cls_predictor_cfg,
                       heads.block_head.cls_predictor_cfg,
                       cfg.model.global_head.classifier):
        assert classifier.type == 'mmkd.OADPClassifier'
        assert classifier.embeddings.endswith('text_embeddings_ml.pth')
    assert heads.bbox_head.num_classes == 65
    for part in (cfg.model.neck, heads.bbox_head, heads.object_head):
        assert part.norm_cfg.type == 'SyncBN'
    assert cfg.model.backbone.depth == 50
    assert cfg.model.test_cfg.rcnn.max_per_img == 300
    assert cfg.val_evaluator.type == 'mmkd.OVCocoMetric'
    assert cfg.val_evaluator.max_dets == 300
    assert cfg.train_dataloader.dataset.type == 'mmkd.OVCocoDataset'
    assert cfg.train_dataloader.dataset.ann_file.endswith(
        'instances_train2017_ov_base.json')
    # the shared base: the same losses and ramps as DigitScenes
    digits = Config.fromfile(CONFIG)
    assert cfg.custom_hooks == digits.custom_hooks
    assert cfg.model.roi_head.block_head.loss_cls == \
        digits.model.roi_head.block_head.loss_cls
    compile(cfg.pretty_text, 'dump.py', 'exec')


def test_faithful_mll_ramps_hold_the_step_1_weights():
    """The faithful OV-COCO variant: the multi-label weights stay at
    their step-1 values (16 / 1000, 4 / 2000) for the whole run, as in
    the official code; the CLIP ramps and everything else are the
    default config's."""
    default = Config.fromfile(COCO_CONFIG)
    cfg = Config.fromfile(FAITHFUL_COCO_CONFIG)
    (hook, ) = cfg.custom_hooks
    (default_hook, ) = default.custom_hooks
    gains = dict(
        block_mll=cfg.model.roi_head.block_head.loss_cls.loss_weight,
        global_mll=cfg.model.global_head.loss_cls.loss_weight)
    for name, weight in dict(block_mll=0.016, global_mll=0.002).items():
        for step in (1, 200, 1000, 2000, 40000):
            assert gains[name] * schedule_factor(
                hook.schedules[name], step - 1) == pytest.approx(weight)
        # the default ramps reach the full gain
        assert gains[name] * schedule_factor(default_hook.schedules[name],
                                             39999) == gains[name]
    for name in ('clip_objects', 'clip_blocks', 'clip_block_relations',
                 'clip_global'):
        assert hook.schedules[name] == default_hook.schedules[name]
    faithful, default = cfg.to_dict(), default.to_dict()
    assert {
        k
        for k in set(faithful) | set(default)
        if faithful.get(k) != default.get(k)
    } == {'custom_hooks'}
    compile(cfg.pretty_text, 'dump.py', 'exec')


def test_ov_coco_classes_from_the_split_files(coco_cfg):
    from mmkd.datasets.open_vocabulary import (OV_COCO_CLASSES,
                                               OV_COCO_NOVEL_CLASSES)
    from mmkd.registry import MODELS
    init_default_scope('mmdet')
    model = MODELS.build(coco_cfg.model)
    for head in (model.roi_head.bbox_head, model.roi_head.object_head,
                 model.roi_head.block_head):
        assert head.fc_cls.classes == list(OV_COCO_CLASSES)
        assert head.num_classes == 65
    novel = model.roi_head.bbox_head.fc_cls.novel[:65]
    assert int(novel.sum()) == 17 and int((~novel).sum()) == 48
    assert [c for c, n in zip(OV_COCO_CLASSES, novel.tolist())
            if n] == list(OV_COCO_NOVEL_CLASSES)
    assert model.global_head.classifier.classes == list(OV_COCO_CLASSES)
    assert model.global_head.classifier.linear.out_features == 16


def test_ov_coco_two_iterations_and_evaluation(coco_cfg):
    runner = Runner.from_cfg(coco_cfg.copy())
    assert type(runner.model).__name__ == 'OADPDetector'
    assert len(runner.train_dataloader.dataset) == 2  # base-labelled
    runner.train()
    assert runner.iter == 2
    hub = runner.message_hub
    for name in ('clip_objects', 'clip_blocks', 'clip_block_relations',
                 'clip_global', 'block_mll', 'global_mll'):
        loss = hub.get_scalar(f'train/loss_{name}').current()
        assert math.isfinite(loss) and loss >= 0, name
    assert hub.get_scalar('train/loss_clip_objects').current() > 0
    metrics = runner.val_loop.run()
    for split in ('base', 'novel'):
        value = metrics[f'coco/bbox_AP50_{split}']
        assert math.isnan(value) or 0.0 <= value <= 1.0


def test_ov_coco_refuses_an_unsplit_summary(coco_cfg, tmp_path):
    from mmkd.registry import MODELS
    bad = tmp_path / 'ov_split.json'
    bad.write_text(json.dumps(dict(classes=['person'])))
    cfg = coco_cfg.copy()
    cfg.model.roi_head.bbox_head.cls_predictor_cfg.ov_split = str(bad)
    init_default_scope('mmdet')
    with pytest.raises(
            KeyError,
            match=r"OV split summary '.*ov_split.json' lacks "
            r"\['base_classes', 'novel_classes'\]"):
        MODELS.build(cfg.model)


# --- OV-LVIS -------------------------------------------------------------


def fake_lvis(root) -> dict:
    """LVIS v1's 1203 categories (mmdet's names, ids 1-1203) with 337
    marked rare (which ones is not LVIS's: a stand-in), two images."""
    from mmdet.datasets import LVISV1Dataset
    names = LVISV1Dataset.METAINFO['classes']
    assert len(names) == 1203
    # odd indices below 674 are rare: 337
    freq = [('r' if i % 2 and i < 674 else 'cf'[i % 2])
            for i in range(len(names))]
    categories = [
        dict(id=i + 1, name=n, frequency=f, synset=n)
        for i, (n, f) in enumerate(zip(names, freq))
    ]
    rare = [c for c in categories if c['frequency'] == 'r']
    common = [c for c in categories if c['frequency'] != 'r']
    assert len(rare) == 337 and len(common) == 866
    images, annotations = [], []
    for i, split in enumerate(('train2017', 'train2017')):
        images.append(
            dict(
                id=i + 1,
                height=32,
                width=32,
                coco_url=f'http://images.cocodataset.org/{split}/'
                f'{i + 1:012d}.jpg',
                neg_category_ids=[],
                not_exhaustive_category_ids=[]))
        for k, cat in enumerate((common[i], rare[i])):
            x = 2 + 12 * k
            annotations.append(
                dict(
                    id=len(annotations) + 1,
                    image_id=i + 1,
                    category_id=cat['id'],
                    bbox=[x, 2, 10, 10],
                    area=100,
                    segmentation=[[x, 2, x + 10, 2, x + 10, 12, x, 12]]))
    return dict(
        info=dict(description='fake LVIS'),
        images=images,
        annotations=annotations,
        categories=categories)


@pytest.fixture(scope='module')
def lvis_root(tmp_path_factory):
    import cv2
    root = str(tmp_path_factory.mktemp('oadp_lvis') / 'lvis_v1')
    os.makedirs(osp.join(root, 'annotations'))
    lvis = fake_lvis(root)
    for split in ('train', 'val'):
        with open(osp.join(root, 'annotations', f'lvis_v1_{split}.json'),
                  'w') as f:
            json.dump(lvis, f)
    os.makedirs(osp.join(root, 'train2017'))
    for img in lvis['images']:
        cv2.imwrite(
            osp.join(root, img['coco_url'].split('.org/')[1]),
            np.full((32, 32, 3), 128, np.uint8))
    # the split tool's lvis preset: base / novel from the frequencies
    spec = importlib.util.spec_from_file_location(
        'ov_split', osp.join(ROOT, 'tools', 'dataset_converters',
                             'ov_split.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    meta = tool.main(['lvis', root])
    assert (len(meta['base_classes']), len(meta['novel_classes'])) == (866,
                                                                       337)
    return root + '/'


def lvis_cfg(root: str, tmp_path) -> Config:
    from mmdet.datasets import LVISV1Dataset
    cfg = Config.fromfile(LVIS_CONFIG)
    paths = dict(
        data_root=root,
        oake=str(tmp_path / 'oake'),
        proposals=str(tmp_path / 'proposals.pkl'),
        vild=str(tmp_path / 'detpro.pth'),
        ov_split=root + 'annotations/ov_split.json')
    relocate(cfg._cfg_dict, paths)
    torch.manual_seed(0)
    save_text_embeddings(paths['vild'], LVISV1Dataset.METAINFO['classes'],
                         F.normalize(torch.randn(1203, 16), dim=-1))
    fewer_rois(cfg)
    return cfg


def test_ov_lvis_settings():
    cfg = Config.fromfile(LVIS_CONFIG)
    assert cfg.optim_wrapper.optimizer == dict(
        type='SGD', lr=0.02, momentum=0.9, weight_decay=2.5e-5)
    assert (cfg.train_cfg.type,
            cfg.train_cfg.max_epochs) == ('EpochBasedTrainLoop', 24)
    step = cfg.param_scheduler[-1]
    assert (step.type, step.milestones, step.by_epoch) == ('MultiStepLR',
                                                           [16, 19], True)
    train = cfg.train_dataloader.dataset
    assert (train.type, train.oversample_thr) == ('ClassBalancedDataset', 1e-3)
    assert train.dataset.type == 'mmkd.OVLVISV1Dataset'
    assert train.dataset.ann_file.endswith('lvis_v1_train_ov_base.json')
    assert cfg.val_evaluator.type == 'LVISMetric'
    assert cfg.val_evaluator.metric == ['bbox', 'segm']
    assert cfg.val_evaluator.ann_file.endswith('lvis_v1_val_ov_all.json')
    heads = cfg.model.roi_head
    assert heads.mask_head.class_agnostic is True
    assert heads.bbox_head.num_classes == heads.mask_head.num_classes == 1203
    for part in (cfg.model.neck, heads.bbox_head, heads.object_head):
        assert part.norm_cfg.type == 'SyncBN'
    for classifier in (heads.bbox_head.cls_predictor_cfg,
                       heads.object_head.cls_predictor_cfg,
                       heads.block_head.cls_predictor_cfg,
                       cfg.model.global_head.classifier):
        assert classifier.type == 'mmkd.OADPViLDClassifier'
        assert (classifier.train_temperature,
                classifier.test_temperature) == (0.01, 0.007)
        assert classifier.embeddings.endswith('text_embeddings_detpro.pth')
    assert cfg.model.test_cfg.rcnn.max_per_img == 300
    assert cfg.custom_hooks == Config.fromfile(CONFIG).custom_hooks
    compile(cfg.pretty_text, 'dump.py', 'exec')


def test_ov_lvis_model_and_dataset_from_the_split_files(lvis_root, tmp_path):
    from mmkd.datasets.open_vocabulary import read_ov_split_summary
    from mmkd.registry import DATASETS, MODELS
    cfg = lvis_cfg(lvis_root, tmp_path)
    init_default_scope('mmdet')
    model = MODELS.build(cfg.model)
    fc_cls = model.roi_head.bbox_head.fc_cls
    assert len(fc_cls.classes) == 1203
    assert int(fc_cls.novel[:1203].sum()) == 337
    assert (fc_cls.train_temperature, fc_cls.test_temperature) == (0.01, 0.007)
    assert model.roi_head.mask_head.class_agnostic
    assert model.global_head.classifier.classes == fc_cls.classes
    # the dataset (without the cache-loading pipeline): its split from the
    # file, the images of their COCO urls, resampled by class
    train = cfg.train_dataloader.dataset.copy()
    train.dataset.pipeline = []
    dataset = DATASETS.build(train)
    assert type(dataset).__name__ == 'ClassBalancedDataset'
    meta = dataset.metainfo
    assert (len(meta['base_classes']), len(meta['novel_classes'])) == (866,
                                                                       337)
    assert dataset.dataset.get_data_info(0)['img_path'] == osp.join(
        lvis_root, 'train2017', '000000000001.jpg')
    labels = dataset.dataset.get_data_info(0)['instances']
    assert [fc_cls.classes[i['bbox_label']]
            for i in labels] == [meta['base_classes'][0]]
    # the raw train file records no split; given the split, its rare
    # (novel) annotations are refused
    raw = cfg.train_dataloader.dataset.dataset.copy()
    raw.update(pipeline=[], ann_file='annotations/lvis_v1_train.json')
    with pytest.raises(
            ValueError,
            match=r'lvis_v1_train.json records no OV '
            r'split \(info.ov_split\) and metainfo names no '
            'base_classes'):
        DATASETS.build(raw)
    split = read_ov_split_summary(lvis_root + 'annotations/ov_split.json')
    raw.metainfo = dict(
        base_classes=split['base_classes'],
        novel_classes=split['novel_classes'])
    with pytest.raises(
            ValueError,
            match=r'the open-vocabulary training set .*lvis_v1_train.json '
            r"has annotations of novel classes: 1 of class 'air_conditioner'"):
        DATASETS.build(raw)


def test_ov_lvis_metric_if_lvis_is_installed(lvis_root, tmp_path):
    pytest.importorskip('lvis')
    from mmkd.registry import METRICS
    cfg = lvis_cfg(lvis_root, tmp_path)
    cfg.val_evaluator.ann_file = lvis_root + \
        'annotations/lvis_v1_val_ov_all.json'
    init_default_scope('mmdet')
    assert METRICS.build(cfg.val_evaluator)
