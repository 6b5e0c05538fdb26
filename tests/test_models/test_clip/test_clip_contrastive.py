# Copyright (c) mmkd contributors. All rights reserved.
"""Training CLIP from scratch: the symmetric InfoNCE loss on hand-made
tensors, a few steps lowering it, the OpenAI-format state dict the towers
reload strictly from, a learned BPE vocabulary, zero-shot accuracy and the
sigmoid fit of a multi-label classifier."""
import gzip
import math

import pytest
import torch
import torch.nn.functional as F
from clip_standins import openai_clip_shapes

from mmkd.models.clip import (CLIPImageTower, CLIPTextTower, CLIPTokenizer,
                              clip_contrastive_loss, clip_param_groups,
                              clip_train_step, fit_sigmoid_scale_bias,
                              learn_bpe, load_clip_state_dict,
                              openai_state_dict, write_bpe, zero_shot_accuracy)

TINY_IMAGE = dict(
    width=64, layers=1, patch_size=8, input_resolution=16, output_dim=8)


def _text_tower(vocab_size=40):
    return CLIPTextTower(
        width=64,
        layers=1,
        context_length=8,
        vocab_size=vocab_size,
        output_dim=8)


def test_contrastive_loss_is_the_symmetric_infonce_formula():
    image = torch.tensor([[3., 4.], [1., 0.], [0., -2.]])
    text = torch.tensor([[1., 0.], [0., 1.], [-1., -1.]])
    scale = 2.
    # by hand: unit rows, logits s * cos, cross-entropy of the diagonal
    # over each row (image -> texts) and each column (text -> images)
    cos = [[0.6, 0.8, -0.7 * 2**0.5], [1., 0., -0.5 * 2**0.5],
           [0., -1., 0.5 * 2**0.5]]
    logits = [[scale * c for c in row] for row in cos]

    def ce(rows):
        return sum(
            math.log(sum(math.exp(v) for v in row)) - row[i]
            for i, row in enumerate(rows)) / len(rows)

    columns = [list(col) for col in zip(*logits)]
    expected = (ce(logits) + ce(columns)) / 2
    loss = clip_contrastive_loss(image, text, torch.tensor(math.log(scale)))
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_label_targets_are_uniform_over_same_class_pairs():
    """UniCL: pairs 0 and 2 share a class, so image 0's target is half
    text 0, half text 2 (and the same for columns)."""
    image = torch.tensor([[3., 4.], [1., 0.], [0., -2.]])
    text = torch.tensor([[1., 0.], [0., 1.], [-1., -1.]])
    scale = 2.
    logits = scale * F.normalize(image, dim=-1) @ F.normalize(text, dim=-1).t()
    targets = [[0.5, 0., 0.5], [0., 1., 0.], [0.5, 0., 0.5]]

    def ce(rows):
        return sum(-sum(t * (v - math.log(sum(math.exp(u) for u in row)))
                        for t, v in zip(target, row))
                   for target, row in zip(targets, rows)) / len(rows)

    rows = logits.tolist()
    expected = (ce(rows) + ce([list(c) for c in zip(*rows)])) / 2
    loss = clip_contrastive_loss(image, text, torch.tensor(math.log(scale)),
                                 torch.tensor([4, 1, 4]))
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    # distinct labels: CLIP's loss
    assert clip_contrastive_loss(image, text, torch.tensor(
        math.log(scale)), torch.tensor([0, 1, 2])).item() == pytest.approx(
            clip_contrastive_loss(image, text,
                                  torch.tensor(math.log(scale))).item())
    with pytest.raises(ValueError, match=r'labels of shape \[2\] for 3'):
        clip_contrastive_loss(image, text, torch.tensor(0.),
                              torch.tensor([0, 1]))


def test_contrastive_loss_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match=r'same shape.*\[3, 2\] and \[2, 2\]'):
        clip_contrastive_loss(
            torch.ones(3, 2), torch.ones(2, 2), torch.tensor(0.))


def test_a_few_steps_lower_the_loss_and_clamp_the_scale():
    torch.manual_seed(0)
    image_tower = CLIPImageTower(**TINY_IMAGE)
    text_tower = _text_tower()
    images = torch.randn(6, 3, 16, 16)
    tokens = torch.zeros(6, 8, dtype=torch.long)
    tokens[:, 0] = 38
    tokens[:, 1] = torch.arange(6) + 1
    tokens[:, 2] = 39  # end of text: the highest id
    with torch.no_grad():
        text_tower.logit_scale.fill_(math.log(99.))
    optimizer = torch.optim.AdamW(
        clip_param_groups(image_tower, text_tower, weight_decay=0.1), lr=3e-3)
    losses = [
        clip_train_step(image_tower, text_tower, images, tokens, optimizer)
        for _ in range(15)
    ]
    assert losses[-1] < 0.5 * losses[0]
    # OpenAI's clamp of the learned scale at 100
    assert text_tower.logit_scale.exp().item() <= 100 + 1e-3


def test_param_groups_decay_matrices_only():
    tower = _text_tower()
    decay, no_decay = clip_param_groups(tower, weight_decay=0.2)
    assert decay['weight_decay'] == 0.2 and no_decay['weight_decay'] == 0
    assert all(p.dim() >= 2 for p in decay['params'])
    assert any(p is tower.logit_scale for p in no_decay['params'])


def test_state_dict_has_openais_keys_and_reloads_strictly(tmp_path):
    torch.manual_seed(0)
    image_tower = CLIPImageTower(**TINY_IMAGE)
    text_tower = _text_tower()
    state_dict = openai_state_dict(image_tower, text_tower)
    expected = openai_clip_shapes(
        embed_dim=8,
        vision_width=64,
        vision_layers=1,
        patch_size=8,
        grid=2,
        text_width=64,
        text_layers=1,
        context_length=8,
        vocab_size=40)
    assert {k: tuple(v.shape) for k, v in state_dict.items()} == expected
    path = str(tmp_path / 'clip.pth')
    torch.save(state_dict, path)
    assert set(load_clip_state_dict(path)) == set(expected)
    images = torch.randn(2, 3, 16, 16)
    tokens = torch.tensor([[38, 5, 39], [38, 39, 0]])
    with torch.no_grad():
        assert torch.equal(
            CLIPImageTower(checkpoint=path).eval()(images),
            image_tower.eval()(images))
        assert torch.equal(
            CLIPTextTower(checkpoint=path).eval()(tokens),
            text_tower.eval()(tokens))


def test_learned_bpe_makes_each_word_one_token(tmp_path):
    texts = ['a photo of the digit seven.', 'There is a digit seven here']
    merges = learn_bpe(texts)
    assert learn_bpe(list(reversed(texts))) == merges  # texts only
    path = write_bpe(str(tmp_path / 'sub' / 'bpe.txt.gz'), merges)
    with gzip.open(path, 'rt') as f:
        assert f.readline() == '#version: 0.2\n'
    tokenizer = CLIPTokenizer(path, context_length=12)
    words = 'a photo of the digit seven . there is here'.split()
    for word in words:
        ids = tokenizer.encode(word)
        assert [tokenizer.decoder[i] for i in ids] == [word + '</w>']
    assert tokenizer.vocab_size == 512 + len(merges) + 2
    # the same merges give the same bytes (no time stamp in the gzip)
    again = write_bpe(str(tmp_path / 'again.txt.gz'), merges)
    assert open(path, 'rb').read() == open(again, 'rb').read()


def test_zero_shot_accuracy_per_group_and_class():
    logits = torch.tensor([[2., 1., 0.], [0., 3., 1.], [1., 0., 0.],
                           [0., 0., 1.]])
    labels = torch.tensor([0, 1, 1, 2])
    accuracy = zero_shot_accuracy(logits, labels, ['a', 'b', 'c'],
                                  dict(base=['a', 'b'], novel=['c']))
    assert accuracy['all'] == 0.75
    assert accuracy['base'] == pytest.approx(2 / 3)
    assert accuracy['novel'] == 1.
    assert (accuracy['a'], accuracy['b'], accuracy['c']) == (1., .5, 1.)
    with pytest.raises(ValueError, match=r"group 'x' has classes \['d'\]"):
        zero_shot_accuracy(logits, labels, 'abc', dict(x=['d']))


def test_sigmoid_scale_bias_separates_positives():
    # positives at cosine 0.6, negatives at 0.2: the fitted threshold
    # bias / scale lies between them
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    cosines = torch.full((6, 3), 0.2)
    cosines[torch.arange(6), labels] = 0.6
    scale, bias = fit_sigmoid_scale_bias(cosines, labels)
    probs = torch.sigmoid(cosines * scale - bias)
    assert 0.2 < bias / scale < 0.6
    assert probs[torch.arange(6), labels].min() > 0.9
    assert F.one_hot(labels, 3).logical_not().mul(probs).max() < 0.1
