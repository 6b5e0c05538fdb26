# Copyright (c) mmkd contributors. All rights reserved.
"""The TransKD distillation configs (Base, GL, EA) train 2 iterations with
a random teacher: the DigitScenes ones on 4 generated canvases shrunk to
64 px, the Cityscapes and ACDC ones on stand-ins in their folder layouts
shrunk to 64x128, so that a step takes seconds on a CPU; the distillation
fragments (configs/_base_/distill/transkd-*_mit.py) wire the taps,
connectors and losses as the reference does."""
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.runner import Runner
from mmkd_testing import ROOT, save_random_teacher
from mmseg_standins import shrink_seg_config, write_acdc, write_cityscapes

from mmkd.datasets import make_digit_scenes

DIGIT = 'transkd-{}_segformer-mit-t_segformer-mit-b0w16_2k_digit-scenes256'
STREET = 'transkd-{}_segformer-mit-b2_segformer-mit-b0_1xb2-1000e_{}-512x1024'
ZOO_CKPT = ('segformer_mit-b2_8x1_1024x1024_160k_cityscapes_20211207_134205-'
            '6096669a.pth')
TEACHERS = osp.join(ROOT, 'configs', 'transkd', 'teachers')
SMALL = (64, 128)


@pytest.fixture(scope='module')
def digit_root(tmp_path_factory):
    """Canvases generated once for the module (generation is
    idempotent)."""
    return make_digit_scenes(
        str(tmp_path_factory.mktemp('digit_scenes')),
        num_train=4, num_val=1, img_size=64)


def digit_cfg(variant, tmp_path, root):
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs', 'transkd', DIGIT.format(variant) + '.py'))
    cfg.model.teacher_ckpt = save_random_teacher(
        cfg.model.teacher, str(tmp_path / 'teacher.pth'), 'mmseg')
    cfg.train_dataloader.dataset.update(data_root=root, generate_cfg=None)
    cfg.merge_from_dict({
        'data_preprocessor.size': (64, 64),
        'model.student.data_preprocessor.size': (64, 64),
        'model.teacher.data_preprocessor.size': (64, 64),
        'train_dataloader.batch_size': 2,
        'train_cfg': dict(type='IterBasedTrainLoop', max_iters=2,
                          val_interval=100),
        'default_hooks.logger.interval': 1,
        'default_hooks.checkpoint.interval': 100,
        'work_dir': str(tmp_path / 'work'),
        'log_level': 'WARNING',
    })
    for key in ('val_dataloader', 'val_cfg', 'val_evaluator'):
        cfg[key] = None
    return cfg


@pytest.mark.parametrize('variant', ['base', 'gl', 'ea'])
def test_digit_scenes_config_trains_two_iterations(variant, tmp_path,
                                                  digit_root):
    runner = Runner.from_cfg(digit_cfg(variant, tmp_path, digit_root))
    connector = runner.model.distiller.loss_connectors['pea']
    if variant == 'ea':
        start = connector.fuse_weights.detach().clone()
    # the pair's channels replace the fragment's MiT-B2 -> B0 ones
    assert connector.in_channels == [16, 32, 80, 128]
    assert connector.out_channels == [32, 64, 160, 256]
    runner.train()
    assert runner.iter == 2
    hub = runner.message_hub
    for loss in ('hcl', 'pea'):
        assert hub.get_scalar(f'train/distill.loss_{loss}').current() > 0
    if variant == 'gl':
        assert connector.projs[3].attn_weight.item() != 1.0  # it trains
    if variant == 'ea':
        assert not connector.fuse_weights.detach().equal(start)


def test_fragments_follow_the_reference():
    """Stage weights (0.1, 0.1, 0.5, 1), HCL levels (4, 2, 1), CSF's 64
    middle channels, B2 -> B0 channels, GL on stage 4 only with 8 heads,
    EA's kernels and the eight weights' default start."""
    base, gl, ea = (Config.fromfile(
        osp.join(ROOT, 'configs', '_base_', 'distill',
                 f'transkd-{v}_mit.py')) for v in ('base', 'gl', 'ea'))
    losses = base.transkd_losses
    assert losses.pea.stage_weights == (0.1, 0.1, 0.5, 1.0)
    assert losses.hcl.levels == (4, 2, 1)
    assert losses.hcl.connector.mid_channels == 64
    assert losses.hcl.connector.in_channels == [32, 64, 160, 256]
    assert losses.hcl.connector.out_channels == [64, 128, 320, 512]
    assert base.transkd_taps.student.embed2 == dict(
        path='backbone.layers.1.0', index=0)
    mixers = gl.transkd_losses.pea.connector.stage_connectors
    assert mixers[:3] == [None] * 3
    assert (mixers[3].type, mixers[3].num_heads, mixers[3].add) == (
        'mmkd.GLMixer', 8, False)
    connector = ea.transkd_losses.pea.connector
    assert connector.type == 'mmkd.EmbeddingAssistant'
    assert 'weight_init' not in connector  # 0.1, ..., 0.8
    assert ea.transkd_taps.student.input1 == dict(
        path='backbone.layers.0.0', io='input')
    assert ea.transkd_losses.pea.student[4:] == [
        'input1', 'input2', 'input3', 'input4'
    ]


def street_cfg(variant, dataset, tmp_path):
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs', 'transkd',
                 STREET.format(variant, dataset) + '.py'))
    root = str(tmp_path / 'data')
    {'cityscapes': write_cityscapes, 'acdc': write_acdc}[dataset](root)
    shrink_seg_config(cfg, root, SMALL)
    cfg.merge_from_dict({
        'data_preprocessor.size': SMALL,
        'model.student.data_preprocessor.size': SMALL,
        'model.teacher.data_preprocessor.size': SMALL,
        'train_dataloader.batch_size': 2,
        'default_hooks.logger.interval': 1,
        'work_dir': str(tmp_path / 'work'),
        'log_level': 'WARNING',
    })
    # replaced, not merged: the protocol's loop counts epochs
    cfg.train_cfg = dict(
        type='IterBasedTrainLoop', max_iters=2, val_interval=2)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=100)
    return cfg


@pytest.mark.parametrize('dataset', ['cityscapes', 'acdc'])
@pytest.mark.parametrize('variant', ['base', 'gl', 'ea'])
def test_street_scene_config_trains_two_iterations(variant, dataset,
                                                   tmp_path):
    """MiT-B2 (the zoo's, as the official scripts use the Cityscapes
    teacher on ACDC too) into a MiT-B0 from scratch under TransKD's
    protocol: both distillation losses train, the student is scored at a
    quarter of the input."""
    cfg = street_cfg(variant, dataset, tmp_path)
    assert cfg.model.teacher_ckpt.endswith(ZOO_CKPT)
    assert cfg.model.teacher.cfg_path == osp.join(
        TEACHERS, 'segformer_mit-b2_8xb1-160k_cityscapes-512x1024.py')
    cfg.model.teacher_ckpt = save_random_teacher(
        cfg.model.teacher, str(tmp_path / 'teacher.pth'), 'mmseg')
    runner = Runner.from_cfg(cfg)
    connector = runner.model.distiller.loss_connectors['pea']
    assert connector.in_channels == [32, 64, 160, 256]
    assert connector.out_channels == [64, 128, 320, 512]
    runner.train()
    assert runner.iter == 2
    hub = runner.message_hub
    for loss in ('hcl', 'pea'):
        assert hub.get_scalar(f'train/distill.loss_{loss}').current() > 0
    assert [m.label_scale for m in runner.val_evaluator.metrics] == [0.25]
    assert 0 <= hub.get_scalar('val/mIoU').current() <= 100


def test_protocol_teacher_replaces_the_zoo_one(tmp_path):
    """The override the configs' header gives: the B2 trained under the
    protocol (head 768, no normalisation) distils instead."""
    cfg = street_cfg('base', 'cityscapes', tmp_path)
    cfg.merge_from_dict({
        'model.teacher.cfg_path':
        osp.join(TEACHERS, 'segformer_mit-b2_1xb8-1000e_cityscapes-'
                 '512x1024.py'),
        'model.teacher.backbone.init_cfg': None,
    })
    cfg.model.teacher_ckpt = save_random_teacher(
        cfg.model.teacher, str(tmp_path / 'teacher.pth'), 'mmseg')
    model = Runner.from_cfg(cfg).model
    teacher = model.teacher
    assert teacher.decode_head.channels == 768
    assert teacher.data_preprocessor.std.flatten().tolist() == [255.0] * 3
