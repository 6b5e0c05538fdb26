# Copyright (c) mmkd contributors. All rights reserved.
from .losses import *  # noqa: F401,F403
from .distillers import *  # noqa: F401,F403
