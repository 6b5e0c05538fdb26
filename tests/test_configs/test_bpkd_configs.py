# Copyright (c) mmkd contributors. All rights reserved.
"""Each BPKD config of the paper's pairs trains 2 iterations on a stand-in
written in its dataset's own folder layout, with real mmseg models (random
teacher weights: the model zoo is out of reach; the URLs stay in the
configs). Crops are shrunk so that a step takes seconds on a CPU."""
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.runner import Runner
from mmkd_testing import ROOT, save_random_teacher
from mmseg_standins import (write_ade20k, write_cityscapes,
                            write_pascal_context)

CITYSCAPES = (write_cityscapes, (64, 128))
ADE20K = (write_ade20k, (64, 64))
CONTEXT = (write_pascal_context, (64, 64))
CONFIGS = {
    'bpkd_pspnet-r101-d8_pspnet-r18-d8_4xb2-80k_cityscapes-512x1024':
    CITYSCAPES,
    'bpkd_fcn-hr48_fcn-hr18s_4xb2-80k_cityscapes-512x1024': CITYSCAPES,
    'bpkd_deeplabv3-r101-d8_deeplabv3plus-m-v2-d8_4xb2-80k_cityscapes-'
    '512x1024': CITYSCAPES,
    'bpkd_isanet-r101-d8_isanet-r18-d8_4xb2-80k_cityscapes-512x1024':
    CITYSCAPES,
    'bpkd_pspnet-r101-d8_pspnet-r18-d8_4xb4-80k_ade20k-512x512': ADE20K,
    'bpkd_pspnet-r101-d8_pspnet-r18-d8_4xb4-80k_pascal-context-59-480x480':
    CONTEXT,
}


def shrink_pipeline(pipeline, crop):
    """The config's own transforms, at a small scale."""
    for transform in pipeline:
        if transform['type'] == 'RandomResize':
            transform['scale'] = (2 * crop[1], 2 * crop[0])
        elif transform['type'] == 'RandomCrop':
            transform['crop_size'] = crop
    return pipeline


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_bpkd_config_trains_on_standin(name, tmp_path):
    write, crop = CONFIGS[name]
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'bpkd', f'{name}.py'))
    assert cfg.model.teacher_ckpt.startswith(
        'https://download.openmmlab.com/mmsegmentation/')
    # the teacher is built in its own config's default scope, as in training
    cfg.model.teacher_ckpt = save_random_teacher(
        cfg.model.teacher, str(tmp_path / 'teacher.pth'), 'mmseg')
    dataset = cfg.train_dataloader.dataset
    write(str(tmp_path / 'data'))
    dataset.data_root = str(tmp_path / 'data')
    shrink_pipeline(dataset.pipeline, crop)
    cfg.merge_from_dict({
        'model.student.pretrained': None,
        'data_preprocessor.size': crop,
        'model.student.data_preprocessor.size': crop,
        'model.teacher.data_preprocessor.size': crop,
        'train_dataloader.batch_size': 2,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'train_cfg': dict(type='IterBasedTrainLoop', max_iters=2,
                          val_interval=100),
        'default_hooks.logger.interval': 1,
        'default_hooks.checkpoint.interval': 100,
        'work_dir': str(tmp_path / 'work'),
        'log_level': 'WARNING',
    })
    for key in ('val_dataloader', 'val_cfg', 'val_evaluator'):
        cfg[key] = None
    runner = Runner.from_cfg(cfg)
    runner.train()
    hub = runner.message_hub
    edge = hub.get_scalar('train/distill.loss_edge').current()
    body = hub.get_scalar('train/distill.loss_body').current()
    # random rectangles always have boundaries: both losses are positive
    assert edge > 0 and body > 0
    assert runner.iter == 2
