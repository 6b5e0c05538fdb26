# Copyright (c) mmkd contributors. All rights reserved.
"""tools/misc/train_digit_clip.py on a tiny generated DigitScenes with a
tiny CLIP: an OpenAI-format state dict that mmkd's CLIP loader (and OAKE)
read strictly, its vocabulary, the two text-embedding files of the OADP
config in the dataset's class order, a report, the same files for the
same seed, and errors naming the file at fault."""
import importlib.util
import json
import os
import os.path as osp

import pytest
import torch
from clip_standins import openai_clip_shapes

from mmkd.datasets import make_digit_scenes
from mmkd.datasets.open_vocabulary import OVDigitScenesDetDataset
from mmkd.models.clip import (VILD_TEMPLATES, CLIPImageTower, CLIPTextTower,
                              CLIPTokenizer, load_text_embeddings,
                              prompt_ensemble)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SMALL = dict(num_train=24, num_val=12, img_size=64, seed=0)
ARGS = [
    '--pretrain-epochs', '1', '--epochs', '1', '--batch-size', '32',
    '--input-resolution', '32', '--patch-size', '16', '--layers', '1',
    '--text-layers', '1', '--embed-dim', '16', '--context-length', '16',
    '--seed', '1'
]
CLASSES = OVDigitScenesDetDataset.METAINFO['classes']
NAMES = tuple(f'digit {w}' for w in ('zero', 'one', 'two', 'three', 'four',
                                     'five', 'six', 'seven', 'eight', 'nine'))


def load_tool():
    spec = importlib.util.spec_from_file_location(
        'train_digit_clip',
        osp.join(ROOT, 'tools', 'misc', 'train_digit_clip.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def digits(tmp_path_factory):
    return make_digit_scenes(str(tmp_path_factory.mktemp('digits')), **SMALL)


@pytest.fixture(scope='module')
def report(digits, tmp_path_factory):
    out = str(tmp_path_factory.mktemp('clip'))
    return load_tool().main([digits, '--out-dir', out] + ARGS)


def test_state_dict_is_openais_and_loads_strictly(report):
    path = report['files']['checkpoint']
    state_dict = torch.load(path, weights_only=True)
    vocab_size = CLIPTokenizer(report['files']['vocab']).vocab_size
    expected = openai_clip_shapes(
        embed_dim=16,
        vision_width=64,
        vision_layers=1,
        patch_size=16,
        grid=2,
        text_width=64,
        text_layers=1,
        context_length=16,
        vocab_size=vocab_size)
    assert {k: tuple(v.shape) for k, v in state_dict.items()} == expected
    assert CLIPImageTower(checkpoint=path).arch['input_resolution'] == 32
    assert CLIPTextTower(checkpoint=path).vocab_size == vocab_size
    from mmkd.methods.oadp import OAKE
    assert OAKE(path).size == 32  # OADP's teacher reads it as it is


def test_text_embeddings_load_with_the_datasets_classes(report):
    files = report['files']
    vild = load_text_embeddings(files['vild'], CLASSES)
    ml = load_text_embeddings(files['ml'], CLASSES)
    assert vild.embeddings.shape == ml.embeddings.shape == (10, 16)
    assert vild.scale is None and vild.meta['num_templates'] == '74'
    assert (ml.scale, ml.bias) == (report['ml_scale'], report['ml_bias'])
    assert torch.allclose(ml.embeddings.norm(dim=-1), torch.ones(10))
    # ViLD's ensemble of the names the teacher learned, not renormalised
    tower = CLIPTextTower(checkpoint=files['checkpoint']).eval()
    tokenizer = CLIPTokenizer(files['vocab'], 16)
    assert torch.allclose(
        vild.embeddings,
        prompt_ensemble(tower, tokenizer, NAMES, VILD_TEMPLATES),
        atol=1e-6)
    # every prompt word is one token of the vocabulary saved with it
    ids = tokenizer.encode('There is one large digit seven in the picture')
    assert len(ids) == 9


def test_report_has_the_val_accuracy_per_group(report):
    with open(report['files']['report']) as f:
        saved = json.load(f)
    for key in ('val_photo', 'val_vild', 'train_photo'):
        assert set(saved['accuracy'][key]) >= {'all', 'base', 'novel', '9'}
        assert 0 <= saved['accuracy'][key]['novel'] <= 1
    assert saved['chance'] == 0.1
    assert saved['settings']['seed'] == 1 and saved['steps'] == 6
    assert len(saved['pretrain_epoch_losses']) == 1
    assert saved['counts']['train']['9'] > 0
    assert saved['templates']['caption'] == 'a photo of the {}.'


def test_the_same_seed_gives_the_same_teacher(report, digits, tmp_path):
    again = load_tool().main([digits, '--out-dir', str(tmp_path)] + ARGS)
    assert again['checkpoint_sha256'] == report['checkpoint_sha256']
    assert again['accuracy'] == report['accuracy']


def test_missing_data_and_classes_are_named(digits, tmp_path):
    tool = load_tool()
    with pytest.raises(ValueError, match=r'--epochs must be >= 1 \(got 0'):
        tool.main([digits, '--epochs', '0'])
    nowhere = str(tmp_path / 'nowhere')
    with pytest.raises(
            FileNotFoundError, match=f"data_root '{nowhere}' does not exist"):
        tool.main([nowhere] + ARGS)
    # a root without the val split
    root = tmp_path / 'no_val'
    os.makedirs(root / 'annotations')
    os.symlink(osp.join(digits, 'img_dir'), root / 'img_dir')
    with open(osp.join(digits, 'annotations', 'instances_train.json')) as f:
        coco = json.load(f)
    with open(root / 'annotations' / 'instances_train.json', 'w') as f:
        json.dump(coco, f)
    with pytest.raises(
            FileNotFoundError,
            match=r"no_val/annotations/instances_val\.json' does not exist"):
        tool.main([str(root)] + ARGS)
    # a train split without any nine: CLIP cannot learn its name
    coco['annotations'] = [
        a for a in coco['annotations'] if a['category_id'] != 10
    ]
    with open(root / 'annotations' / 'instances_train.json', 'w') as f:
        json.dump(coco, f)
    os.symlink(
        osp.join(digits, 'annotations', 'instances_val.json'),
        root / 'annotations' / 'instances_val.json')
    with pytest.raises(
            ValueError,
            match=r"instances_train\.json has no digit of the classes "
            r"\['9'\]"):
        tool.main([str(root)] + ARGS)


@pytest.mark.parametrize('unlock', [False, True])
def test_the_contrastive_stage_locks_the_image_tower(digits, tmp_path,
                                                     monkeypatch, unlock):
    """LiT: after stage 1, only the text tower learns (default); with
    --unlock-image both do."""
    tool = load_tool()
    after_stage_1 = {}
    pretrain = tool.pretrain_image_tower

    def record(args, tower, *rest):
        losses = pretrain(args, tower, *rest)
        after_stage_1.update({
            k: v.clone()
            for k, v in tower.state_dict().items()
        })
        return losses

    monkeypatch.setattr(tool, 'pretrain_image_tower', record)
    report = tool.main(
        [digits, '--out-dir', str(tmp_path)] + ARGS +
        (['--unlock-image'] if unlock else []))
    saved = torch.load(report['files']['checkpoint'], weights_only=True)
    changed = [
        k for k, v in after_stage_1.items()
        if not torch.equal(saved['visual.' + k], v)
    ]
    assert bool(changed) == unlock


def test_encoded_images_are_unit_rows(report, digits):
    """The sigmoid scale and bias of text_embeddings_ml.pth are fitted on
    cosines: the image embeddings must be unit rows."""
    from mmkd.datasets.open_vocabulary import DigitCropDataset
    tool = load_tool()
    tower = CLIPImageTower(checkpoint=report['files']['checkpoint'])
    dataset = DigitCropDataset(digits, 'val', size=32, crop_scale=2.)
    embeddings, labels = tool.encode_images(tower, dataset, 8, 'cpu')
    assert embeddings.shape == (len(dataset), 16)
    assert torch.allclose(embeddings.norm(dim=-1), torch.ones(len(dataset)))
    assert labels.tolist() == [
        dataset[i]['label'] for i in range(len(dataset))
    ]
