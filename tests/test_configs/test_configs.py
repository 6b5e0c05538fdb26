# Copyright (c) mmkd contributors. All rights reserved.
"""Every shipped config parses and every distillation config builds."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmkd  # noqa: F401
from mmkd.models.distillers import DistillModel, build_model
from mmkd.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'),
                         recursive=True) if '_base_' not in p)
DISTILL_CONFIGS = [
    p for p in CONFIGS
    if Config.fromfile(p).model.get('type') == 'mmkd.DistillModel'
]


@pytest.mark.parametrize('path', CONFIGS,
                         ids=lambda p: osp.relpath(p, ROOT))
def test_config_parses(path):
    cfg = Config.fromfile(path)
    assert 'model' in cfg and 'train_cfg' in cfg


@pytest.mark.parametrize('path', DISTILL_CONFIGS,
                         ids=lambda p: osp.relpath(p, ROOT))
def test_distill_config_builds(path, tmp_path):
    """Build with a teacher checkpoint made from the teacher config (the
    model zoo is not reachable here); the real URL stays in the config."""
    cfg = Config.fromfile(path)
    init_default_scope(cfg.get('default_scope', 'mmkd'))
    teacher = build_model(cfg.model.teacher, 'teacher')
    ckpt = str(tmp_path / 'teacher.pth')
    torch.save(dict(state_dict=teacher.state_dict()), ckpt)
    del teacher
    model_cfg = cfg.model.copy()
    model_cfg.teacher_ckpt = ckpt
    model = MODELS.build(model_cfg)
    assert isinstance(model, DistillModel)
    assert not any(k.startswith('teacher') for k in model.state_dict())
