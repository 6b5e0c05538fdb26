# Copyright (c) mmkd contributors. All rights reserved.
import logging

import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log

from mmkd.registry import HOOKS


@HOOKS.register_module()
class FlushDenormalHook(Hook):
    """Flush denormal floats to zero on CPU for the run
    (``torch.set_flush_denormal``).

    Arithmetic on denormals (magnitudes under ~1.2e-38 in float32) is about
    100 times slower on x86 CPUs. Heads with sharp softmaxes make them: a
    text classifier's logits divided by a temperature of 0.007 give
    probabilities of exp(-90) and gradients in the denormal range, and the
    backward of OADP's DigitScenes student spent 2.5 of its 4.5 s an
    iteration in two (1024, 256) x (256, 3136) matrix products on them
    (docs/methods/oadp.md). GPUs flush them in most kernels already.
    Flushing changes no value above 1.2e-38.

    ``tools/train.py`` and ``tools/test.py`` add it to configs that lack it;
    ``dict(type='mmkd.FlushDenormalHook', enable=False)`` in
    ``custom_hooks`` keeps denormals. Upstream projects add
    ``dict(type='mmkd.FlushDenormalHook')`` to ``custom_hooks``. The
    setting is process-wide and restored (off, torch's default) after the
    run.

    Args:
        enable (bool): Whether to flush. Defaults to True.
    """

    priority = 'VERY_HIGH'

    def __init__(self, enable: bool = True) -> None:
        self.enable = enable
        self._flushing = False

    def before_run(self, runner) -> None:
        if not self.enable:
            return
        self._flushing = torch.set_flush_denormal(True)
        if not self._flushing:
            print_log(
                'FlushDenormalHook: this CPU cannot flush denormals (x86 '
                'with SSE3 only); CPU training may run slower on them',
                logger='current',
                level=logging.WARNING)

    def after_run(self, runner) -> None:
        if self._flushing:
            torch.set_flush_denormal(False)
            self._flushing = False
