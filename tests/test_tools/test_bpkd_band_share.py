# Copyright (c) mmkd contributors. All rights reserved.
"""tools/analysis_tools/bpkd_band_share.py on hand-made label maps."""
import importlib.util
import os.path as osp

import numpy as np
import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def load_tool():
    spec = importlib.util.spec_from_file_location(
        'bpkd_band_share',
        osp.join(ROOT, 'tools', 'analysis_tools', 'bpkd_band_share.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_band_share_of_a_square():
    """A 4x4 square of class 1 on an 8x8 background, k = 3: both classes'
    bands are the 6x6 ring around the square's inner 2x2 (32 pixels), which
    holds 12 of its 16 pixels."""
    label = np.zeros((8, 8), np.uint8)
    label[2:6, 2:6] = 1
    tool = load_tool()
    assert tool.band_share([label], 2, 3) == (32 / 64, 12 / 16)
    # no band at k = 1; an ignored pixel is no valid and no foreground pixel
    assert tool.band_share([label], 2, 1) == (0.0, 0.0)
    label[0, 0] = 255
    share, fg_share = tool.band_share([label], 2, 3)
    assert fg_share == 12 / 16
    # the background erodes into the ignored corner: its neighbours (0, 1)
    # and (1, 0) join the band ((1, 1) is in the ring already)
    assert share == pytest.approx(34 / 63)
