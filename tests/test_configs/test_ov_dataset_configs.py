# Copyright (c) mmkd contributors. All rights reserved.
"""The open-vocabulary dataset configs: DigitScenes generated and split on
first use (a small stand-in here), base labels only in train, all in val,
scored by mmkd.OVCocoMetric on the val split; OV-COCO on the split files
of a fake COCO."""
import os.path as osp

import pytest
import torch
from mmdet.registry import DATASETS, METRICS
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData
from mmkd_testing import ROOT
from ov_coco_standins import write_fake_coco

from mmkd.datasets.open_vocabulary import (OV_COCO_BASE_CLASSES,
                                           OV_COCO_CLASSES,
                                           OV_COCO_NOVEL_CLASSES,
                                           write_ov_splits)

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


def test_ov_coco_config_reads_the_split(tmp_path):
    root = write_fake_coco(str(tmp_path / 'coco'), with_images=True)
    ann_dir = osp.join(root, 'annotations')
    write_ov_splits(
        osp.join(ann_dir, 'instances_train2017.json'),
        osp.join(ann_dir, 'instances_val2017.json'), OV_COCO_BASE_CLASSES,
        OV_COCO_NOVEL_CLASSES)
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs/_base_/datasets/ov_coco_detection.py'))
    init_default_scope('mmdet')
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        loader.dataset.data_root = root
        if loader is cfg.val_dataloader:  # the stand-in has one image set
            loader.dataset.data_prefix = dict(img='train2017/')
    train = DATASETS.build(cfg.train_dataloader.dataset)
    val = DATASETS.build(cfg.val_dataloader.dataset)
    # images 1 and 3 have base boxes (2: novel only, 4: none, filtered)
    assert [train.get_data_info(k)['img_id']
            for k in range(len(train))] == [1, 3]
    assert len(val) == 4
    novel = {OV_COCO_CLASSES.index(c) for c in ('airplane', 'cat')}
    assert novel <= {
        i['bbox_label']
        for k in range(len(val))
        for i in val.get_data_info(k)['instances']
    }
    metric = METRICS.build(
        dict(
            cfg.val_evaluator,
            ann_file=osp.join(root,
                              'annotations/instances_val2017_ov_all.json')))
    assert metric.max_dets == 100
