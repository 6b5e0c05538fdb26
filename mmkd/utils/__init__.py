# Copyright (c) mmkd contributors. All rights reserved.
from .compat import patch_checkpoint_loading
from .dist import setup_cpu_distributed

__all__ = ['patch_checkpoint_loading', 'setup_cpu_distributed']
