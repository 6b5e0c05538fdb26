# Copyright (c) mmkd contributors. All rights reserved.
import logging

import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model import MMDistributedDataParallel, revert_sync_batchnorm

from mmkd.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """:class:`MMDistributedDataParallel` for modules on the CPU (gloo).

    MMEngine's ``Runner.wrap_model`` passes ``device_ids=[LOCAL_RANK]``,
    which torch rejects for CPU modules; this wrapper drops it there and
    behaves exactly like its parent on GPUs.

    torch's ``SyncBatchNorm`` refuses CPU tensors, so on CPU its layers are
    reverted to ``BatchNorm`` (statistics per process) with a warning.
    """

    def __init__(self, module, device_ids=None, **kwargs) -> None:
        on_cpu = all(p.device.type == 'cpu' for p in module.parameters())
        if not on_cpu:
            kwargs['device_ids'] = device_ids
        elif any(isinstance(m, nn.SyncBatchNorm) for m in module.modules()):
            print_log(
                'SyncBN does not run on CPU (gloo): its layers are reverted '
                'to BatchNorm, so batch statistics are per process',
                logger='current',
                level=logging.WARNING)
            module = revert_sync_batchnorm(module)
        super().__init__(module=module, **kwargs)
