# Copyright (c) mmkd contributors. All rights reserved.
"""The open-vocabulary DigitScenes dataset config: generated and split on
first use (a small stand-in here), base labels only in train, all in val,
scored by mmkd.OVCocoMetric on the val split."""
import os.path as osp

import pytest
import torch
from mmdet.registry import DATASETS, METRICS
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData
from mmkd_testing import ROOT

CONFIG = osp.join(ROOT, 'configs/_base_/datasets/ov_digit_scenes_detection.py')
SMALL = dict(num_train=8, num_val=4, img_size=64)


def small_config(data_root):
    cfg = Config.fromfile(CONFIG)
    assert cfg.generate_cfg == dict(img_size=448)
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        loader.dataset.update(data_root=data_root, generate_cfg=SMALL)
    cfg.val_evaluator.ann_file = osp.join(
        data_root, 'annotations/instances_val_ov_all.json')
    return cfg


@pytest.fixture(scope='module')
def cfg(tmp_path_factory):
    return small_config(str(tmp_path_factory.mktemp('ovcfg') / 'ds'))


def test_train_samples_have_base_labels_only(cfg):
    init_default_scope('mmdet')  # as the detector configs
    train = DATASETS.build(cfg.train_dataloader.dataset)
    assert len(train) == SMALL['num_train']
    labels = torch.cat([
        train[k]['data_samples'].gt_instances.labels
        for k in range(len(train))
    ])
    assert len(labels) and labels.max() < 7
    assert train[0]['inputs'].shape[-2:] == (224, 224)


def test_val_has_novel_labels_and_the_metric_scores_them(cfg):
    init_default_scope('mmdet')  # as the detector configs
    val = DATASETS.build(cfg.val_dataloader.dataset)
    metric = METRICS.build(cfg.val_evaluator)
    metric.dataset_meta = val.metainfo
    seen = set()
    for k in range(len(val)):
        sample = val[k]['data_samples']
        gt = sample.gt_instances
        seen.update(gt.labels.tolist())
        # perfect on base digits (the test pipeline loads the boxes after
        # resizing: they are at the original scale, as predictions are)
        base = gt.labels < 7
        sample.pred_instances = InstanceData(
            bboxes=gt.bboxes.tensor[base],
            scores=torch.ones(int(base.sum())),
            labels=gt.labels[base])
        metric.process({}, [sample.to_dict()])
    assert seen & {7, 8, 9}
    results = metric.evaluate(len(val))
    assert results['coco/bbox_AP50_base'] == pytest.approx(1.0)
    assert results['coco/bbox_AP50_novel'] == 0.0
