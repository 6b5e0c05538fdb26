# Copyright (c) mmkd contributors. All rights reserved.
"""Each LPLD benchmark pair (source config and adaptation config) trains 2
iterations and evaluates on a stand-in written in the VOC layout the
benchmark is distributed in, with the real Faster R-CNN C4 R50 (random
weights: the ImageNet weights are out of reach). Images, RoI samples and
proposals are shrunk so that a step takes seconds on a CPU."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from mmkd_testing import ROOT, save_random_teacher
from voc_standins import (write_cityscape_voc, write_clipart,
                          write_kitti_voc, write_sim10k_voc,
                          write_vocdevkit, write_watercolor)

PAIRS = {
    'cityscapes2foggy': (write_cityscape_voc, ),
    'sim10k2cityscapes': (write_sim10k_voc, write_cityscape_voc),
    'kitti2cityscapes': (write_kitti_voc, write_cityscape_voc),
    'voc2clipart': (write_vocdevkit, write_clipart),
    'voc2watercolor': (write_vocdevkit, write_watercolor),
}
SMALL_DETECTOR = dict(
    backbone=dict(init_cfg=None),
    roi_head=dict(shared_head=dict(init_cfg=None)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=200, max_per_img=32),
        rcnn=dict(sampler=dict(num=16))),
    test_cfg=dict(rpn=dict(nms_pre=200, max_per_img=16)))
# random weights score every class about equally: accept every detection as
# a pseudo label and every proposal as an LPL, to run the whole step
OPEN = dict(hpl_score_thr=0.0,
            mining=dict(iou_thr=1.0, fg_score_thr=0.0, bg_score_thr=1.0))


def relocate(cfg, data_root):
    """Point every dataset under ``data/`` at ``data_root``, shrink the
    images, run in-process."""

    def visit(node):
        if isinstance(node, dict):
            if str(node.get('data_root', '')).startswith('data/'):
                node['data_root'] = osp.join(data_root,
                                             node['data_root'][5:])
            if node.get('type') == 'Resize':
                node['scale'] = (160, 96)
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        visit(cfg[key])
        cfg[key].num_workers = 0
        cfg[key].persistent_workers = False


def run(cfg, tmp_path, name, max_epochs):
    """Train ``max_epochs`` epochs of the stand-in (2 or more iterations),
    then evaluate."""
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs,
                         val_interval=100)
    cfg.merge_from_dict({
        'default_hooks.logger.interval': 1,
        'default_hooks.checkpoint': dict(type='CheckpointHook',
                                         interval=100),
        # random weights at the source schedule's lr 0.02 without its
        # warm-up diverge; LPLD's own lr is 0.001
        'param_scheduler': [],
        'optim_wrapper.optimizer.lr': 0.001,
        'work_dir': str(tmp_path / name),
        'log_level': 'WARNING',
    })
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == max_epochs * len(runner.train_dataloader) >= 2
    metrics = runner.val_loop.run()
    assert 0.0 <= metrics['pascal_voc/mAP'] <= 1.0
    return runner


@pytest.mark.parametrize('pair', sorted(PAIRS))
def test_lpld_pair_trains_on_standin(pair, tmp_path):
    data_root = str(tmp_path / 'data')
    for write in PAIRS[pair]:
        write(data_root)
    source = f'source_faster-rcnn_r50-caffe-c4_1x_{pair}'
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'lpld', f'{source}.py'))
    assert cfg.model.backbone.init_cfg.checkpoint.startswith('open-mmlab://')
    # no ImageNet weights here
    cfg.model = Config._merge_a_into_b(SMALL_DETECTOR, cfg.model.to_dict())
    relocate(cfg, data_root)
    # batch 2 on 2 images (4 for VOC0712): 1 (2) iterations per epoch
    runner = run(cfg, tmp_path, 'source', max_epochs=2)
    assert runner.message_hub.get_scalar('train/loss_cls').current() > 0

    cfg = Config.fromfile(
        osp.join(ROOT, 'configs', 'lpld',
                 f'lpld_faster-rcnn_r50-caffe-c4_{pair}.py'))
    assert cfg.model.source_ckpt.endswith('epoch_12.pth')
    detector = dict(cfg.model.detector, **SMALL_DETECTOR)
    cfg.model.detector = detector
    cfg.model.source_ckpt = save_random_teacher(
        detector, str(tmp_path / 'source.pth'), 'mmdet')
    cfg.model.update(OPEN, num_teacher_proposals=16)
    relocate(cfg, data_root)
    # LPLD's batch 1: an epoch of 2 iterations, then the EMA update
    runner = run(cfg, tmp_path, 'lpld', max_epochs=1)
    hub = runner.message_hub
    assert hub.get_scalar('train/num_lpl').current() > 0
    assert hub.get_scalar('train/loss_lpld').current() >= 0


DIGIT_LPLD = osp.join(ROOT, 'configs', 'lpld',
                      'lpld_faster-rcnn_r18_fpn_digit-scenes-clean2shifted.py')


def digit_scenes_lpld(tmp_path, classes=None):
    """The DigitScenes LPLD config on 4 shifted canvases of 64 px, with a
    random source model."""
    cfg = Config.fromfile(DIGIT_LPLD)
    cfg.model.source_ckpt = save_random_teacher(
        cfg.model.detector, str(tmp_path / 'source.pth'), 'mmdet')
    cfg.model.update(OPEN)
    tiny = dict(domain='shifted', num_train=4, num_val=2, img_size=64)
    for key in ('train_dataloader', 'val_dataloader'):
        cfg[key].dataset.update(data_root=str(tmp_path / 'data'),
                                generate_cfg=tiny)
        if classes:
            cfg[key].dataset.metainfo = dict(classes=classes)
    cfg.val_evaluator.ann_file = str(
        tmp_path / 'data' / 'annotations' / 'instances_val.json')
    cfg.train_cfg.max_epochs = 1
    cfg.work_dir = str(tmp_path / 'work')
    cfg.log_level = 'WARNING'
    return cfg


def test_digit_scenes_lpld_epoch(tmp_path):
    """An epoch (1 iteration of batch 4) of the DigitScenes LPLD config, the
    EMA update, then COCO evaluation of the teacher on shifted val."""
    runner = Runner.from_cfg(digit_scenes_lpld(tmp_path))
    teacher = runner.model.teacher.roi_head.bbox_head.fc_cls.weight
    before = teacher.clone()
    runner.train()
    assert runner.iter == 1 and runner.model.predict_on == 'teacher'
    assert not torch.equal(teacher, before)  # the per-epoch EMA ran
    assert runner.message_hub.get_scalar('train/num_lpl').current() > 0
    assert 'val/coco/bbox_mAP_50' in runner.message_hub.log_scalars


def test_target_classes_other_than_source_model(tmp_path):
    """The source model has 10 digit classes; a target set declaring 3 is
    refused before the first step."""
    runner = Runner.from_cfg(
        digit_scenes_lpld(tmp_path, classes=('0', '1', '2')))
    with pytest.raises(AssertionError, match=r'num_classes.* \(10\).*3'):
        runner.train()
    assert runner.iter == 0
