# Copyright (c) mmkd contributors. All rights reserved.
"""Distributed training on CPU-only machines with MMEngine 0.10.7."""
import os
import subprocess

import torch
import torch.distributed as dist
from mmengine.config import Config


def setup_cpu_distributed(cfg: Config, launcher: str) -> None:
    """Prepare ``cfg`` and the process group for gloo training on CPUs.

    MMEngine's ``init_dist`` calls ``torch.cuda.set_device`` and its
    ``wrap_model`` passes ``device_ids``; both fail without a GPU. The gloo
    process group is created here instead (the Runner then skips
    ``init_dist``) and the model is wrapped by
    :class:`mmkd.engine.CPUDistributedDataParallel`. Nothing changes when
    a GPU is present or when ``launcher`` is ``'none'``.

    Args:
        cfg (Config): The config; ``env_cfg.dist_cfg.backend`` and
            ``model_wrapper_cfg`` are set in place.
        launcher (str): ``'none'``, ``'pytorch'`` (torchrun) or
            ``'slurm'``.
    """
    if launcher == 'none' or torch.cuda.is_available():
        return
    if launcher == 'slurm':
        # torchrun-style variables from Slurm's, as mmengine's
        # _init_dist_slurm does, but without touching CUDA
        os.environ.setdefault('RANK', os.environ['SLURM_PROCID'])
        os.environ.setdefault('WORLD_SIZE', os.environ['SLURM_NTASKS'])
        os.environ.setdefault('LOCAL_RANK', os.environ['SLURM_LOCALID'])
        os.environ.setdefault('MASTER_PORT', '29500')
        if 'MASTER_ADDR' not in os.environ:
            # the first node of the job, as mmengine's _init_dist_slurm
            node_list = os.environ['SLURM_NODELIST']
            os.environ['MASTER_ADDR'] = subprocess.getoutput(
                f'scontrol show hostname {node_list} | head -n1')
    elif launcher != 'pytorch':
        raise ValueError(f'launcher {launcher!r} is not supported on CPU; '
                         "use 'pytorch' (torchrun) or 'slurm'")
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
    cfg.env_cfg.dist_cfg.backend = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel')
    if wrapper['type'] in ('MMDistributedDataParallel',
                           'mmengine.MMDistributedDataParallel'):
        wrapper = dict(wrapper, type='mmkd.CPUDistributedDataParallel')
    cfg.model_wrapper_cfg = wrapper
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
