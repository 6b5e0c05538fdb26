# Copyright (c) mmkd contributors. All rights reserved.
"""Taps that select an element, force keyword arguments or capture a
method, on mmseg's MiT (whose PatchEmbed returns ``(tokens, hw_shape)``
and whose attention runs inside ``nn.MultiheadAttention``)."""
import pytest
import torch
import torch.nn as nn
from mmseg.models.backbones import MixVisionTransformer

from mmkd.models.distillers import FeatureTaps


def tiny_mit():
    torch.manual_seed(0)
    return MixVisionTransformer(
        embed_dims=8, num_stages=2, num_layers=[1, 1], num_heads=[1, 2],
        patch_sizes=[7, 3], strides=[4, 2], sr_ratios=[2, 1],
        out_indices=(0, 1)).eval()


def test_switched_records_inside_the_block_and_restores_after():
    net = nn.Sequential(nn.Conv2d(3, 4, 1))
    taps = FeatureTaps(net, dict(conv='0'))
    x = torch.rand(1, 3, 2, 2)
    with taps.switched(False):
        net(x)
    assert taps.enabled and taps.missing() == ['conv']
    taps.enabled = False
    with pytest.raises(ZeroDivisionError):
        with taps.switched(True):
            net(x)
            1 / 0
    assert not taps.enabled
    assert taps.pop()['conv'].shape == (1, 4, 2, 2)


def test_index_selects_the_tokens_of_a_tuple():
    mit = tiny_mit()
    taps = FeatureTaps(mit, dict(
        tokens=dict(path='layers.0.0', index=0),
        hw=dict(path='layers.0.0', index=[1, 0])))
    mit(torch.rand(1, 3, 32, 32))
    out = taps.pop()
    # 32 / 4 = 8: 64 tokens of 8 channels; hw_shape[0] = 8
    assert out['tokens'].shape == (1, 64, 8)
    assert out['hw'] == 8


def test_forced_kwargs_capture_attention_probabilities():
    mit = tiny_mit()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        plain = mit(x)
    taps = FeatureTaps(mit, dict(attn=dict(
        path='layers.1.1.0.attn.attn', index=1,
        kwargs=dict(need_weights=True, average_attn_weights=False))))
    with torch.no_grad():
        tapped = mit(x)
    probs = taps.pop()['attn']
    # stage 2: 4 x 4 tokens, 2 heads, sr_ratio 1 -> (B, heads, 16, 16)
    assert probs.shape == (1, 2, 16, 16)
    torch.testing.assert_close(probs.sum(-1), torch.ones(1, 2, 16))
    # the model's own outputs are unchanged by the tap
    for a, b in zip(plain, tapped):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    # nothing is forced while the taps are off: mmseg asks for the
    # head-averaged weights
    taps.enabled = False
    seen = []
    handle = mit.layers[1][1][0].attn.attn.register_forward_hook(
        lambda m, a, o: seen.append(o[1]))
    with torch.no_grad():
        mit(x)
    handle.remove()
    assert seen[0].shape == (1, 16, 16)


def test_method_tap_and_its_removal():

    class Head(nn.Module):

        def loss_by_feat(self, feats, scale=1.0):
            return dict(loss=feats.sum() * scale, aux=feats.mean())

    head = Head()
    taps = FeatureTaps(head, dict(
        aux=dict(path='', method='loss_by_feat', index='aux'),
        scale=dict(path='', method='loss_by_feat', io='input',
                   index='scale')))
    out = head.loss_by_feat(torch.ones(2, 3), scale=2.0)
    assert out['loss'] == 12
    got = taps.pop()
    assert got['aux'] == 1 and got['scale'] == 2.0
    taps.remove()
    assert 'loss_by_feat' not in head.__dict__


def test_bad_index_names_tap_index_and_shapes():
    mit = tiny_mit()
    FeatureTaps(mit, dict(tokens=dict(path='layers.0.0', index=2)))
    with pytest.raises(IndexError, match=r"student tap 'tokens' \(layers.0.0"
                       r"\): index \[2\] does not fit .* out of \(\(1, 64, "
                       r"8\), \(8, 8\)\)"):
        mit(torch.rand(1, 3, 32, 32))
    with pytest.raises(TypeError, match='index must be an int, a str'):
        FeatureTaps(mit, dict(t=dict(path='layers.0.0', index=1.5)))
    with pytest.raises(ValueError, match="has no method 'nope'"):
        FeatureTaps(mit, dict(t=dict(path='layers.0.0', method='nope')))
    with pytest.raises(KeyError, match="unknown key 'indx'.*'index'"):
        FeatureTaps(mit, dict(t=dict(path='layers.0.0', indx=0)))
