# Copyright (c) mmkd contributors. All rights reserved.
# ``mmkd.models.bev`` (mmdet3d parts) is imported on demand by the registry.
from .losses import *  # noqa: F401,F403
from .distillers import *  # noqa: F401,F403
from .utils import *  # noqa: F401,F403
from .clip import *  # noqa: F401,F403
from .segmentors import *  # noqa: F401,F403
