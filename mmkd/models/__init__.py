# Copyright (c) mmkd contributors. All rights reserved.
from .losses import *  # noqa: F401,F403
from .distillers import *  # noqa: F401,F403
from .detectors import *  # noqa: F401,F403
from .fusion_layers import *  # noqa: F401,F403
from .view_transforms import *  # noqa: F401,F403
