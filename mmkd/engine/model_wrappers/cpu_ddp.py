# Copyright (c) mmkd contributors. All rights reserved.
from mmengine.model import MMDistributedDataParallel

from mmkd.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """:class:`MMDistributedDataParallel` for modules on the CPU (gloo).

    MMEngine's ``Runner.wrap_model`` passes ``device_ids=[LOCAL_RANK]``,
    which torch rejects for CPU modules; this wrapper drops it there and
    behaves exactly like its parent on GPUs.
    """

    def __init__(self, module, device_ids=None, **kwargs) -> None:
        on_cpu = all(p.device.type == 'cpu' for p in module.parameters())
        if not on_cpu:
            kwargs['device_ids'] = device_ids
        super().__init__(module=module, **kwargs)
