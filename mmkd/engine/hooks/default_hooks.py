# Copyright (c) mmkd contributors. All rights reserved.
"""The mmkd hooks that ``tools/train.py`` and ``tools/test.py`` add to
every config that lacks them."""
from typing import Sequence

from mmengine.config import Config

#: added to training runs
TRAIN_HOOKS = ('RandomStatesHook', 'ResumeCheckHook', 'FlushDenormalHook')
#: added to test runs
TEST_HOOKS = ('FlushDenormalHook', )


def add_default_hooks(cfg: Config, names: Sequence[str]) -> None:
    """Append ``dict(type='mmkd.<name>')`` to ``cfg.custom_hooks`` for each
    name that no hook there has (by type name, with or without scope), so a
    config's own settings of those hooks are kept."""
    hooks = list(cfg.get('custom_hooks') or [])
    present = {
        getattr(h['type'], '__name__', str(h['type'])).split('.')[-1]
        for h in hooks if isinstance(h, dict) and 'type' in h
    }
    hooks += [
        dict(type=f'mmkd.{name}') for name in names if name not in present
    ]
    cfg.custom_hooks = hooks
