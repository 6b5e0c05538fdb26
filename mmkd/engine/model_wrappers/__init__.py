# Copyright (c) mmkd contributors. All rights reserved.
from .cpu_ddp import CPUDistributedDataParallel

__all__ = ['CPUDistributedDataParallel']
