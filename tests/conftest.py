# Copyright (c) mmkd contributors. All rights reserved.
import os.path as osp
import sys

import pytest
from mmengine.registry import DefaultScope, init_default_scope

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), 'helpers'))


@pytest.fixture(autouse=True)
def mmkd_default_scope():
    """Start every test in the mmkd scope, whatever an earlier test set
    (MMEngine's default scope is process-global).

    Earlier scopes are dropped too: a Runner asks for the scope named after
    its experiment (config name + a timestamp in seconds), and when a test
    of the same second left one of that name, MMEngine hands it back
    without making it the current scope, so the model is built in whatever
    scope came last."""
    DefaultScope._instance_dict.clear()
    init_default_scope('mmkd')


@pytest.fixture(scope='session')
def tiny_simscenes(tmp_path_factory):
    """A ``--tiny`` SimScenes root with its info files, made once per run
    (8 s); tests must not change it."""
    from mmkd.datasets.sim_scenes.generate import SIZES, make_sim_scenes
    from mmkd.datasets.sim_scenes.infos import create_infos
    root = str(tmp_path_factory.mktemp('simscenes'))
    make_sim_scenes(root, **SIZES['tiny'])
    create_infos(root, info_prefix='simscenes')
    return root


@pytest.fixture(autouse=True)
def unformatted_config_dumps(monkeypatch):
    """Runners dump their config through yapf (``Config.pretty_text``),
    which takes most of a small Runner test on nested configs (ACDC's four
    concatenated datasets: 80 of 87 s, profiled); the dumps stay
    unformatted, but their syntax is still checked (a dump yapf would
    refuse, e.g. ``dict(global=...)``, fails as in a real run). Scripts run
    as subprocesses still format."""
    import ast

    import mmengine.config.config as mmengine_config

    def parse_only(text, **kwargs):
        ast.parse(text)
        return text, False

    monkeypatch.setattr(mmengine_config, 'FormatCode', parse_only)
