# Copyright (c) mmkd contributors. All rights reserved.
"""tools/misc/clip_text_embeddings.py writes the prompt ensemble of a CLIP
checkpoint (a random one in OpenAI's TorchScript format) for given
classes, in the file format ``load_text_embeddings`` checks."""
import importlib.util
import os.path as osp

import pytest
import torch
from clip_standins import random_openai_clip, save_torchscript
from clip_vocab import VOCAB_SIZE, write_vocab

from mmkd.models.clip import (CLIPTextTower, CLIPTokenizer,
                              load_text_embeddings, prompt_ensemble)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def load_tool():
    spec = importlib.util.spec_from_file_location(
        'clip_text_embeddings',
        osp.join(ROOT, 'tools', 'misc', 'clip_text_embeddings.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp('clip_tool')
    # ViLD's longest template gives 31 tokens on the tiny vocabulary
    checkpoint = save_torchscript(
        random_openai_clip(
            vocab_size=VOCAB_SIZE,
            context_length=32,
            text_width=64,
            text_layers=1,
            jit_meta=True), str(root / 'tiny.pt'))
    return checkpoint, write_vocab(str(root / 'bpe.txt.gz'))


def test_tool_writes_the_prompt_ensemble(inputs, tmp_path):
    checkpoint, vocab = inputs
    templates = tmp_path / 'templates.txt'
    templates.write_text('a {}\nzero {} dog\n')
    out = str(tmp_path / 'out' / 'digits.pth')
    load_tool().main([
        checkpoint, '--vocab', vocab, '--classes', 'cat', 'dog', 'zero',
        '--templates',
        str(templates), '--scale', '20', '--out', out
    ])
    loaded = load_text_embeddings(out, ['cat', 'dog', 'zero'])
    tower = CLIPTextTower(checkpoint=checkpoint).eval()
    expected = prompt_ensemble(tower, CLIPTokenizer(vocab, 32),
                               ['cat', 'dog', 'zero'], ['a {}', 'zero {} dog'])
    assert torch.allclose(loaded.embeddings, expected)
    assert (loaded.scale, loaded.bias) == (20.0, None)
    assert loaded.meta['num_templates'] == '2'
    assert loaded.meta['renormalized'] == 'False'


def test_tool_vild_templates_and_renormalize(inputs, tmp_path):
    checkpoint, vocab = inputs
    classes = tmp_path / 'classes.txt'
    classes.write_text('cat\ndog\n')
    out = str(tmp_path / 'vild.pth')
    load_tool().main([
        checkpoint, '--vocab', vocab, '--classes-file',
        str(classes), '--renormalize', '--out', out
    ])
    loaded = load_text_embeddings(out, ['cat', 'dog'])
    assert loaded.meta['num_templates'] == '74'
    assert torch.allclose(loaded.embeddings.norm(dim=-1), torch.ones(2))


def test_tool_refuses_unknown_templates(inputs, tmp_path):
    checkpoint, vocab = inputs
    with pytest.raises(
            FileNotFoundError,
            match="'nope' is neither one of \\['photo', 'vild'\\]"):
        load_tool().main([
            checkpoint, '--vocab', vocab, '--classes', 'cat', '--templates',
            'nope', '--out',
            str(tmp_path / 'x.pth')
        ])
