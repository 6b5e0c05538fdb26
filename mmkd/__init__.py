# Copyright (c) mmkd contributors. All rights reserved.
from .utils.compat import patch_checkpoint_loading
from .version import __version__

# mmengine 0.10.7 writes numpy objects into checkpoint meta, which
# torch>=2.6's ``weights_only=True`` default refuses: allow exactly those; and
# it unpickles URL checkpoints fully: load them with ``weights_only=True``.
patch_checkpoint_loading()

__all__ = ['__version__']
