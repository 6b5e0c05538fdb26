# Copyright (c) mmkd contributors. All rights reserved.
"""Text-embedding files: names checked against the dataset's classes, scale
and bias kept; ViLD's prompt ensemble."""
import pytest
import torch
import torch.nn.functional as F
from clip_standins import random_openai_clip
from clip_vocab import VOCAB_SIZE, write_vocab

from mmkd.models.clip import (CLIPTextTower, CLIPTokenizer,
                              load_text_embeddings, prompt_ensemble,
                              save_text_embeddings)

DIGITS = ['zero', 'one', 'two', 'three']


@pytest.fixture
def saved(tmp_path):
    path = str(tmp_path / 'embeddings.pth')
    embeddings = torch.randn(4, 8)
    save_text_embeddings(
        path,
        DIGITS,
        embeddings,
        scale=2.5,
        bias=0.5,
        meta=dict(templates='vild'))
    return path, embeddings


def test_round_trip_with_the_dataset_classes(saved):
    path, embeddings = saved
    loaded = load_text_embeddings(path, DIGITS)
    assert loaded.names == DIGITS
    assert torch.equal(loaded.embeddings, embeddings)
    assert (loaded.scale, loaded.bias) == (2.5, 0.5)
    assert loaded.meta == dict(templates='vild')


@pytest.mark.parametrize('classes, message', [
    (['zero', 'two', 'one', 'three'
      ], "class 1 is 'two' in the dataset but 'one' in the file"),
    (DIGITS + ['four'], "the file has 4 names and lacks class 4 'four'"),
    (DIGITS[:3], "the file has 4 names, the extra first one is 3 'three'"),
])
def test_names_must_be_the_dataset_classes_in_order(saved, classes, message):
    path, _ = saved
    with pytest.raises(
            ValueError,
            match=f"text embeddings '{path}' does not match the "
            f"dataset's {len(classes)} classes: {message}"):
        load_text_embeddings(path, classes)


def test_select_takes_rows_by_name(saved):
    path, embeddings = saved
    loaded = load_text_embeddings(path, ['two', 'zero'], select=True)
    assert loaded.names == ['two', 'zero']
    assert torch.equal(loaded.embeddings, embeddings[[2, 0]])
    with pytest.raises(ValueError, match="has no class 'four' .*dataset"):
        load_text_embeddings(path, ['two', 'four'], select=True)


def test_oadp_files_load(tmp_path):
    # OADP's ml_coco.pth: tensors 'scaler' and 'bias'
    path = str(tmp_path / 'ml_coco.pth')
    torch.save(
        dict(
            embeddings=torch.randn(2, 8),
            names=['cat', 'dog'],
            scaler=torch.tensor(20.0),
            bias=torch.tensor([3.0])), path)
    loaded = load_text_embeddings(path, ['cat', 'dog'])
    assert (loaded.scale, loaded.bias) == (20.0, 3.0)


@pytest.mark.parametrize('data, message', [
    (dict(names=['a'], embeddings=torch.ones(1, 2),
          prompts=[]), r"unknown keys \['prompts'\]"),
    (dict(names=['a']), r"no \['embeddings'\]"),
    (dict(names=['a', 'b'], embeddings=torch.ones(
        3, 2)), r'2 names but embeddings of shape \[3, 2\]'),
    (dict(names=['a', 'a'], embeddings=torch.ones(
        2, 2)), r"names \['a'\] appear more than once"),
])
def test_malformed_files_are_named(tmp_path, data, message):
    path = str(tmp_path / 'bad.pth')
    torch.save(data, path)
    with pytest.raises((KeyError, ValueError),
                       match=f"text embeddings '{path}'.*{message}"):
        load_text_embeddings(path)


@pytest.fixture(scope='module')
def tower_and_tokenizer(tmp_path_factory):
    vocab = write_vocab(str(tmp_path_factory.mktemp('vocab') / 'bpe.txt'))
    tower = CLIPTextTower(
        checkpoint=random_openai_clip(vocab_size=VOCAB_SIZE)).eval()
    return tower, CLIPTokenizer(vocab, tower.context_length)


def test_prompt_ensemble_averages_normalised_templates(tower_and_tokenizer):
    tower, tokenizer = tower_and_tokenizer
    templates = ['a {}', 'a {} dog', 'zero {} cat']
    names = ['cat', 'dog', 'zero']
    got = prompt_ensemble(tower, tokenizer, names, templates, batch_size=2)
    with torch.no_grad():
        expected = sum(
            F.normalize(
                tower(tokenizer.tokenize([t.format(n) for n in names])),
                dim=-1) for t in templates) / 3
    assert torch.allclose(got, expected, atol=1e-6)
    # ViLD's average is not renormalised: its rows are shorter than 1
    assert (got.norm(dim=-1) < 0.999).all()
    unit = prompt_ensemble(
        tower, tokenizer, names, templates, renormalize=True)
    assert torch.allclose(unit, F.normalize(expected, dim=-1), atol=1e-6)


def test_prompt_ensemble_checks_its_inputs(tower_and_tokenizer, tmp_path):
    tower, tokenizer = tower_and_tokenizer
    with pytest.raises(ValueError, match='exactly one'):
        prompt_ensemble(tower, tokenizer, ['cat'], ['a photo'])
    long = CLIPTokenizer(tokenizer.bpe_path, context_length=77)
    with pytest.raises(
            ValueError,
            match="'a a a a a a a a a a a cat' is too long for "
            "the text tower's 12 tokens"):
        prompt_ensemble(tower, long, ['cat'], ['a a a a a a a a a a a {}'])
    other = write_vocab(str(tmp_path / 'other.txt'))
    with open(other, 'a') as f:
        f.write('g o\n')
    with pytest.raises(
            ValueError,
            match=f"tokenizer '{other}' has {VOCAB_SIZE + 1} "
            f'tokens, the text tower {VOCAB_SIZE}'):
        prompt_ensemble(tower, CLIPTokenizer(other), ['cat'], ['a {}'])
