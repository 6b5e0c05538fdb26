# Copyright (c) mmkd contributors. All rights reserved.
"""tools/export_student.py reads its checkpoint with weights_only=True."""
import importlib.util
import os.path as osp
import pickle
import sys

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def load_tool(name):
    spec = importlib.util.spec_from_file_location(
        name, osp.join(ROOT, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _CreatesFile:
    """Pickles as ``open(path, 'w')``: full unpickling creates ``path``."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, 'w'))


def test_export_refuses_a_checkpoint_that_runs_code(tmp_path, monkeypatch):
    marker = str(tmp_path / 'code_ran')
    evil = str(tmp_path / 'evil.pth')
    torch.save(dict(state_dict={'student.w': torch.ones(1)},
                    meta=_CreatesFile(marker)), evil)
    out = str(tmp_path / 'student.pth')
    config = str(tmp_path / 'distill.py')
    with open(config, 'w') as f:
        f.write("default_scope = 'mmkd'\nmodel = dict(type='DistillModel')\n")
    # stands in for a torch whose weights_only default is False
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    monkeypatch.setattr(sys, 'argv',
                        ['export_student.py', config, evil, out])
    with pytest.raises(pickle.UnpicklingError,
                       match=f"checkpoint '{evil}' holds io.open"):
        load_tool('export_student').main()
    assert not osp.exists(marker)
    assert not osp.exists(out)
