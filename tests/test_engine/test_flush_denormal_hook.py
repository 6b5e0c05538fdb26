# Copyright (c) mmkd contributors. All rights reserved.
import logging

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger

from mmkd.engine.hooks import (TEST_HOOKS, TRAIN_HOOKS, FlushDenormalHook,
                               add_default_hooks)
from mmkd.registry import HOOKS

DENORMAL = 1e-39  # under float32's smallest normal, ~1.18e-38


def _doubled() -> float:
    return (torch.tensor([DENORMAL]) * 2).item()


@pytest.fixture(autouse=True)
def _restore_flush():
    yield
    torch.set_flush_denormal(False)


def test_denormals_are_flushed_during_the_run_only():
    assert _doubled() == pytest.approx(2 * DENORMAL, rel=1e-3)
    hook = HOOKS.build(dict(type='mmkd.FlushDenormalHook'))
    hook.before_run(None)
    assert _doubled() == 0.0
    assert (torch.tensor([1e-30]) * 2).item() == pytest.approx(2e-30)
    hook.after_run(None)
    assert _doubled() == pytest.approx(2 * DENORMAL, rel=1e-3)


def test_disabled_hook_keeps_denormals():
    hook = FlushDenormalHook(enable=False)
    hook.before_run(None)
    assert _doubled() == pytest.approx(2 * DENORMAL, rel=1e-3)
    hook.after_run(None)


def test_a_cpu_that_cannot_flush_is_named(monkeypatch):
    calls, messages = [], []
    monkeypatch.setattr(torch, 'set_flush_denormal',
                        lambda mode: calls.append(mode) or False)

    class Collect(logging.Handler):

        def emit(self, record):
            messages.append(record.getMessage())

    logger, handler = MMLogger.get_current_instance(), Collect()
    logger.addHandler(handler)
    try:
        hook = FlushDenormalHook()
        hook.before_run(None)
        hook.after_run(None)
    finally:
        logger.removeHandler(handler)
    assert any('cannot flush denormals' in m for m in messages)
    # nothing to restore when it never flushed
    assert calls == [True]


def test_default_hooks_are_appended_unless_the_config_has_them():
    cfg = Config(
        dict(custom_hooks=[
            dict(type='mmkd.FlushDenormalHook', enable=False),
            dict(type='EMAHook')
        ]))
    add_default_hooks(cfg, TRAIN_HOOKS)
    types = [h['type'] for h in cfg.custom_hooks]
    assert types == [
        'mmkd.FlushDenormalHook', 'EMAHook', 'mmkd.RandomStatesHook',
        'mmkd.ResumeCheckHook'
    ]
    assert cfg.custom_hooks[0]['enable'] is False
    cfg = Config(dict())
    add_default_hooks(cfg, TEST_HOOKS)
    assert cfg.custom_hooks == [dict(type='mmkd.FlushDenormalHook')]
