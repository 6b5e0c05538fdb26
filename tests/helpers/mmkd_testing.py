# Copyright (c) mmkd contributors. All rights reserved.
"""Shared helpers of mmkd's tests (``tests/helpers`` is on ``sys.path``)."""
import contextlib
import logging
import os
import os.path as osp
import subprocess
import sys
from typing import Iterator, List

import torch
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope

from mmkd.models.distillers import build_model

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
HELPERS = osp.dirname(osp.abspath(__file__))


def save_random_teacher(teacher_cfg, path: str, scope: str) -> str:
    """Build a teacher from its config and save its (random) weights: the
    model zoo is out of reach in tests; the real URLs stay in the configs."""
    init_default_scope(scope)
    teacher = build_model(teacher_cfg, 'teacher')
    torch.save(dict(state_dict=teacher.state_dict()), path)
    return path


def run_dist(script: str, config: str, *args: str, port: int) -> str:
    """Run ``tools/dist_train.sh``/``dist_test.sh`` with this folder
    importable (for ``DumpRankWeights``); return the log."""
    env = dict(
        os.environ,
        PORT=str(port),
        OMP_NUM_THREADS='1',
        # the scripts run the interpreter the suite runs in
        PYTHON=sys.executable,
        PYTHONPATH=os.pathsep.join(
            [HELPERS, os.environ.get('PYTHONPATH', '')]))
    proc = subprocess.run(['bash', script, config, *args],
                          cwd=ROOT,
                          capture_output=True,
                          text=True,
                          env=env)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    return log


def assert_ranks_identical(out_dir: str) -> dict:
    """Compare the parameters ``DumpRankWeights`` wrote for ranks 0 and 1."""
    rank0 = torch.load(osp.join(out_dir, 'rank0.pth'))
    rank1 = torch.load(osp.join(out_dir, 'rank1.pth'))
    assert rank0.keys() == rank1.keys()
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
    return rank0


@contextlib.contextmanager
def collect_logs() -> Iterator[List[str]]:
    """The messages MMEngine's current logger emits inside the block (its
    stream handler is bound before pytest's capture, so capsys misses
    them)."""
    messages: List[str] = []

    class Collect(logging.Handler):

        def emit(self, record):
            messages.append(record.getMessage())

    logger, handler = MMLogger.get_current_instance(), Collect()
    logger.addHandler(handler)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)
