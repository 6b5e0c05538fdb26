# Copyright (c) mmkd contributors. All rights reserved.
import os.path as osp
import sys

import pytest
from mmengine.registry import init_default_scope

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), 'helpers'))


@pytest.fixture(autouse=True)
def mmkd_default_scope():
    """Start every test in the mmkd scope, whatever an earlier test set
    (MMEngine's default scope is process-global)."""
    init_default_scope('mmkd')
