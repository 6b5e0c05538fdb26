# Copyright (c) mmkd contributors. All rights reserved.
"""A test hook (imported with ``custom_imports``) that writes every rank's
trainable parameters after a run, to compare ranks of a distributed run.
Buffers are left out: BatchNorm statistics are per process on CPU."""
import os.path as osp

import torch
import torch.distributed as dist
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


@HOOKS.register_module()
class DumpRankWeights(Hook):

    priority = 'LOWEST'

    def __init__(self, out_dir: str) -> None:
        self.out_dir = out_dir

    def after_run(self, runner) -> None:
        model = runner.model
        model = model.module if is_model_wrapper(model) else model
        state = {
            k: v.detach().clone()
            for k, v in model.named_parameters()
        }
        for hook in runner.hooks:  # connectors of a DistillHook
            distiller = getattr(hook, 'distiller', None)
            if distiller is not None:
                state.update({
                    f'hook.{k}': v.detach().clone()
                    for k, v in distiller.named_parameters()
                })
        rank = dist.get_rank() if dist.is_initialized() else 0
        torch.save(state, osp.join(self.out_dir, f'rank{rank}.pth'))
