# Copyright (c) mmkd contributors. All rights reserved.
"""The OADP DigitScenes config end to end: a tiny generated OV DigitScenes,
OAKE caches written by the extraction library with a random tiny CLIP and
hand-made proposals, random text embeddings, 2 training iterations with
every DP loss, then the ensemble evaluated on the val split."""
import json
import math
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
# a random CLIP with ViT-B/32's geometry, 16-d embeddings
ARCH = dict(
    vision_width=64, vision_layers=1, patch_size=32, grid=7, embed_dim=16)
# 224 px canvases: block 0 and one 224 px window each
TINY = dict(num_train=4, num_val=2, img_size=224)
DIGITS = tuple(str(i) for i in range(10))


def relocate(node, paths: dict):
    """Point the config's files at the test's: dataset roots, OAKE caches,
    text embeddings; the student reads 64 px images."""
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
    if kind == 'mmkd.LoadCachedRecords':
        cache = node['cache']
        if isinstance(cache, dict):
            cache['root'] = osp.join(paths['oake'],
                                     osp.basename(cache['root']))
            cache['extra_inputs'] = dict(proposals=paths['proposals'])
        else:
            node['cache'] = osp.join(paths['oake'], osp.basename(cache))
    if kind == 'mmkd.OADPViLDClassifier':
        node['embeddings'] = paths['vild']
    if kind == 'mmkd.OADPClassifier':
        node['embeddings'] = paths['ml']
    if kind == 'Resize':
        node['scale'] = (64, 64)
    for value in node.values():
        relocate(value, paths)


@pytest.fixture(scope='module')
def cfg(tmp_path_factory):
    root = tmp_path_factory.mktemp('oadp')
    cfg = Config.fromfile(CONFIG)
    paths = dict(
        data_root=str(root / 'ds') + '/',
        oake=str(root / 'oake'),
        proposals=str(root / 'proposals.pkl'),
        vild=str(root / 'vild.pth'),
        ml=str(root / 'ml.pth'))
    relocate(cfg._cfg_dict, paths)
    cfg.val_evaluator.ann_file = osp.join(
        paths['data_root'], 'annotations/instances_val_ov_all.json')
    cfg.test_evaluator = cfg.val_evaluator
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
    cfg.train_dataloader.batch_size = 2
    cfg.val_dataloader.batch_size = 2
    cfg.train_cfg.update(max_iters=2, val_interval=100)
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=100, save_last=False)
    cfg.work_dir = str(root / 'work')
    cfg.log_level = 'WARNING'
    # fewer RoIs: seconds on a CPU
    cfg.model.train_cfg.rpn_proposal.max_per_img = 32
    cfg.model.train_cfg.rcnn.sampler.num = 16
    cfg.model.test_cfg.rpn.max_per_img = 16
    return cfg


def test_config_classes_are_the_dataset_split():
    cfg = Config.fromfile(CONFIG)
    assert cfg.classes == DIGITS == tuple(cfg.metainfo['classes'])
    assert cfg.base_classes == tuple(cfg.metainfo['base_classes'])
    assert cfg.val_evaluator.max_dets == 300
    assert cfg.model.test_cfg.rcnn.max_per_img == 300


def test_resolved_config_is_the_one_before_the_shared_base():
    """The OADP block moved to _base_/models/oadp_dp.py: the resolved
    DigitScenes config (model, hooks, data, schedule) is unchanged, as
    recorded before the move."""
    cfg = json.loads(json.dumps(Config.fromfile(CONFIG).to_dict()))
    with open(osp.join(ROOT, 'tests', 'data', osp.basename(CONFIG)[:-3] +
                       '.json')) as f:
        recorded = json.load(f)
    for key, value in recorded.items():
        assert cfg[key] == value, key


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
            match=r"has no 'oake_objects_records'; load the OAKE objects "
            r"cache with mmkd.LoadCachedRecords\(prefix='oake_objects_'\)"):
        model.records([DetDataSample()], 'objects')
