# Copyright (c) mmkd contributors. All rights reserved.
from .compat import patch_checkpoint_loading
from .dist import setup_cpu_distributed
from .resume import resolve_resume_checkpoint

__all__ = [
    'patch_checkpoint_loading', 'resolve_resume_checkpoint',
    'setup_cpu_distributed'
]
