# Copyright (c) mmkd contributors. All rights reserved.
"""A tiny distillation run (conv + dropout on 1x4x4 maps) for tests of
training faults and resume; builds in a second on CPU."""
import copy

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel
from torch.utils.data import Dataset

from mmkd.registry import DATASETS, MODELS

NET = 'TrainingToyNet'
DATASET = 'TrainingToyDataset'


class TrainingToyNet(BaseModel):
    """Conv backbone, dropout, linear head regressing a scalar."""

    def __init__(self, dropout=0.5, data_preprocessor=None, init_cfg=None):
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), nn.ReLU())
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(4, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        out = self._regress(inputs)
        return list(out) if mode == 'predict' else out

    def loss(self, inputs, data_samples):
        # a method of its own, as in OpenMMLab models (DistillHook wraps it)
        out = self._regress(inputs)
        return dict(loss=F.mse_loss(out, torch.stack(data_samples)))

    def _regress(self, inputs):
        feat = self.dropout(self.backbone(torch.stack(inputs)))
        return self.head(feat.mean((2, 3))).squeeze(1)


class TrainingToyDataset(Dataset):
    """8 random maps; ``huge_from`` makes the maps from that index on
    1e6, which overflows float16 (max 65504); ``noise`` adds Gaussian noise
    from torch's global generator, as a random augmentation does."""

    METAINFO = dict()

    def __init__(self, huge_from=None, noise=0.0):
        self.noise = noise
        g = torch.Generator().manual_seed(0)
        self.data = torch.randn(8, 1, 4, 4, generator=g)
        if huge_from is not None:
            self.data[huge_from:] = 1e6
        self.label = torch.linspace(-1, 1, 8)

    @property
    def metainfo(self):
        return self.METAINFO

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        inputs = self.data[index]
        if self.noise:
            inputs = inputs + self.noise * torch.randn(inputs.shape)
        return dict(inputs=inputs, data_samples=self.label[index])


def register():
    MODELS.register_module(name=NET, module=TrainingToyNet, force=True)
    DATASETS.register_module(
        name=DATASET, module=TrainingToyDataset, force=True)


def unregister():
    MODELS.module_dict.pop(NET, None)
    DATASETS.module_dict.pop(DATASET, None)


def save_teacher(path, scale=1.0):
    """A random teacher checkpoint; ``scale`` multiplies its weights."""
    torch.manual_seed(1)
    teacher = TrainingToyNet()
    state = {k: v * scale for k, v in teacher.state_dict().items()}
    torch.save(dict(state_dict=state), path)
    return path


def distill_model(teacher_ckpt, dropout=0.5, **kwargs):
    """A DistillModel config: MSE between the backbones of the toy nets."""
    return dict(
        type='mmkd.DistillModel',
        student=dict(type=f'mmkd.{NET}', dropout=dropout),
        teacher=dict(type=f'mmkd.{NET}'),
        teacher_ckpt=teacher_ckpt,
        taps=dict(
            student=dict(feat='backbone'), teacher=dict(feat='backbone')),
        losses=dict(
            mse_feat=dict(
                type='MSEFeatureLoss', student='feat', teacher='feat')),
        **kwargs)


def runner_cfg(base_cfg, model, work_dir, max_epochs=2, val=False,
               dataset=None, max_iters=None):
    """An epoch-based config from RunnerTestCase's ``epoch_based_cfg``:
    shuffled batches of 2, no workers, a checkpoint every epoch; with
    ``max_iters``, an iteration-based loop over the same loader with a
    checkpoint at the end (a save costs 0.3 s) and validation every 3
    iterations."""
    cfg = copy.deepcopy(base_cfg)
    cfg.work_dir = work_dir
    cfg.model = copy.deepcopy(model)
    cfg.train_dataloader.dataset = dataset or dict(type=f'mmkd.{DATASET}')
    cfg.train_dataloader.batch_size = 2
    cfg.train_cfg = dict(by_epoch=True, max_epochs=max_epochs)
    if val:
        cfg.val_dataloader.dataset = dict(type=f'mmkd.{DATASET}')
        cfg.val_dataloader.batch_size = 4
        cfg.train_cfg.update(val_interval=1)
    else:
        for key in ('val_dataloader', 'val_evaluator', 'val_cfg'):
            cfg[key] = None
    for key in ('test_dataloader', 'test_evaluator', 'test_cfg'):
        cfg[key] = None
    cfg.optim_wrapper = dict(
        optimizer=dict(type='SGD', lr=0.05, momentum=0.9))
    cfg.default_hooks = dict(
        checkpoint=dict(type='CheckpointHook', interval=1),
        logger=dict(type='LoggerHook', interval=1))
    if max_iters is not None:
        cfg.train_cfg = dict(
            by_epoch=False, max_iters=max_iters, val_interval=3)
        cfg.default_hooks.checkpoint.update(by_epoch=False, interval=100)
    cfg.randomness = dict(seed=0)
    cfg.custom_hooks = []
    return cfg
