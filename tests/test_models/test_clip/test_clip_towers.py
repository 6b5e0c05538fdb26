# Copyright (c) mmkd contributors. All rights reserved.
"""CLIP's towers load OpenAI's checkpoints (random ones: none can be
downloaded) strictly, read their architecture off the shapes, and compute
what OpenAI's CLIP computes."""
import pickle
import re

import pytest
import torch
import torch.nn.functional as F
from clip_standins import (TINY, openai_clip_shapes, random_openai_clip,
                           save_torchscript)

from mmkd.models.clip import (CLIP_MODEL_URLS, CLIPImageTower, CLIPTextTower,
                              clip_text_config, clip_vision_config,
                              interpolate_pos_embed, resolve_clip_checkpoint)
from mmkd.registry import MODELS

VISION_ARCH = dict(
    width=128,
    layers=2,
    heads=2,
    patch_size=8,
    input_resolution=16,
    output_dim=32)
TEXT_ARCH = dict(
    width=128,
    layers=2,
    heads=2,
    context_length=12,
    vocab_size=60,
    output_dim=32)


@pytest.fixture(scope='module')
def state_dict():
    return random_openai_clip(jit_meta=True)


@pytest.fixture(scope='module')
def files(state_dict, tmp_path_factory):
    """The same weights as a state dict file and as a TorchScript archive
    (OpenAI's ``ViT-B-32.pt`` is one)."""
    root = tmp_path_factory.mktemp('clip')
    plain = {k: v for k, v in state_dict.items() if v.is_floating_point()}
    torch.save(plain, str(root / 'state_dict.pth'))
    return dict(
        state_dict=str(root / 'state_dict.pth'),
        torchscript=save_torchscript(state_dict, str(root / 'ViT-tiny.pt')))


def _tokens():
    # end-of-text (59, the highest id) at positions 5, 11 and 1
    tokens = torch.randint(
        1, 58, (3, 12), generator=torch.Generator().manual_seed(1))
    for row, eot in enumerate((5, 11, 1)):
        tokens[row, eot] = 59
        tokens[row, eot + 1:] = 0
    return tokens


def test_parameter_names_are_openais():
    shapes = openai_clip_shapes(**dict(TINY, vision_layers=1, text_layers=1))
    image = CLIPImageTower(**dict(VISION_ARCH, layers=1))
    text = CLIPTextTower(**dict(TEXT_ARCH, layers=1))
    got = {
        f'visual.{k}': tuple(v.shape)
        for k, v in image.state_dict().items()
    }
    got.update({k: tuple(v.shape) for k, v in text.state_dict().items()})
    assert got == shapes


@pytest.mark.parametrize('kind', ['state_dict', 'torchscript'])
def test_checkpoint_loads_strictly_and_identically(files, state_dict, kind):
    image = CLIPImageTower(checkpoint=files[kind]).eval()
    text = CLIPTextTower(checkpoint=files[kind]).eval()
    assert image.arch == VISION_ARCH and text.arch == TEXT_ARCH
    for key, value in image.state_dict().items():
        assert torch.equal(value, state_dict[f'visual.{key}'].float()), key
    for key, value in text.state_dict().items():
        assert torch.equal(value, state_dict[key].float()), key
    # the other format gives the very same outputs
    other = 'torchscript' if kind == 'state_dict' else 'state_dict'
    images = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(
            image(images),
            CLIPImageTower(checkpoint=files[other]).eval()(images))
        assert torch.equal(
            text(_tokens()),
            CLIPTextTower(checkpoint=files[other]).eval()(_tokens()))


def test_towers_build_from_the_registry(files):
    image = MODELS.build(
        dict(type='CLIPImageTower', checkpoint=files['torchscript']))
    text = MODELS.build(
        dict(type='CLIPTextTower', checkpoint=files['torchscript']))
    assert isinstance(image, CLIPImageTower)
    assert isinstance(text, CLIPTextTower)


def test_architecture_is_read_off_the_shapes():
    state_dict = random_openai_clip(
        vision_width=64,
        vision_layers=3,
        patch_size=4,
        grid=3,
        text_width=192,
        text_layers=1,
        context_length=7,
        vocab_size=20,
        embed_dim=16)
    assert clip_vision_config(state_dict) == dict(
        width=64,
        layers=3,
        heads=1,
        patch_size=4,
        input_resolution=12,
        output_dim=16)
    assert clip_text_config(state_dict) == dict(
        width=192,
        layers=1,
        heads=3,
        context_length=7,
        vocab_size=20,
        output_dim=16)
    # explicit heads win over OpenAI's width // 64
    assert clip_vision_config(state_dict, heads=4)['heads'] == 4


def test_torchscript_scalars_are_checked(state_dict):
    wrong = dict(state_dict, input_resolution=torch.tensor(224))
    with pytest.raises(
            ValueError,
            match="'input_resolution' is 224 but the weights' "
            'shapes give 16'):
        CLIPImageTower(checkpoint=wrong)


def _save_changed(state_dict, tmp_path, change):
    changed = dict(state_dict)
    change(changed)
    path = str(tmp_path / 'changed.pth')
    torch.save(changed, path)
    return path


@pytest.mark.parametrize('tower, change, message', [
    (CLIPImageTower,
     lambda sd: sd.pop('visual.transformer.resblocks.1.mlp.c_fc.bias'),
     "missing keys ['visual.transformer.resblocks.1.mlp.c_fc.bias']"),
    (CLIPImageTower,
     lambda sd: sd.update({'visual.ln_mid.weight': torch.ones(128)}),
     "unexpected keys ['visual.ln_mid.weight']"),
    (CLIPImageTower,
     lambda sd: sd.update({'visual.ln_post.bias': torch.zeros(64)}),
     "mis-shaped keys 'visual.ln_post.bias': [64] in the file, [128] in "
     'CLIPImageTower'),
    (CLIPTextTower, lambda sd: sd.pop('text_projection'),
     "has no 'text_projection'"),
    (CLIPTextTower,
     lambda sd: sd.pop('transformer.resblocks.0.attn.out_proj.weight'),
     "missing keys ['transformer.resblocks.0.attn.out_proj.weight']"),
    (CLIPTextTower, lambda sd: sd.update(
        {'transformer.resblocks.0.ln_1.bias': torch.zeros(3)}),
     "mis-shaped keys 'transformer.resblocks.0.ln_1.bias': [3] in the "
     'file, [128] in CLIPTextTower'),
    (CLIPTextTower, lambda sd: sd.update({'text_head.weight': torch.ones(1)}),
     "keys of neither CLIP tower: ['text_head.weight']"),
    (CLIPImageTower, lambda sd: sd.update({'text_head.weight': torch.ones(1)}),
     "keys of neither CLIP tower: ['text_head.weight']"),
])
def test_bad_keys_are_named_with_the_file(state_dict, tmp_path, tower, change,
                                          message):
    path = _save_changed(state_dict, tmp_path, change)
    with pytest.raises((KeyError, ValueError),
                       match=re.escape(f"CLIP checkpoint '{path}'") + '.*' +
                       re.escape(message)):
        tower(checkpoint=path)


def test_given_architecture_must_fit_the_checkpoint(files):
    with pytest.raises(
            ValueError,
            match=r'does not fit the given architecture: '
            r'width=64 \(the checkpoint has 128\)'):
        CLIPImageTower(width=64, checkpoint=files['state_dict'])


def test_state_dict_files_are_read_with_weights_only(tmp_path):
    marker = tmp_path / 'code_ran'

    class CreatesFile:

        def __reduce__(self):
            return (open, (str(marker), 'w'))

    path = str(tmp_path / 'evil.pth')
    torch.save({'visual.proj': torch.ones(1), 'x': CreatesFile()}, path)
    with pytest.raises(pickle.UnpicklingError, match=re.escape(path)):
        CLIPImageTower(checkpoint=path)
    assert not marker.exists()


def test_checkpoint_names_resolve_to_openais_urls(tmp_path, monkeypatch):
    url = CLIP_MODEL_URLS['ViT-B/32']
    assert url.startswith('https://openaipublic.azureedge.net/clip/models/')
    assert re.fullmatch('[0-9a-f]{64}', url.split('/')[-2])
    with pytest.raises(FileNotFoundError, match=r"'ViT-B/99'.*'ViT-B/32'"):
        resolve_clip_checkpoint('ViT-B/99')

    # no download in tests: a stand-in writes the wrong bytes
    def download(source, target, progress=True):
        assert source == url
        with open(target, 'wb') as f:
            f.write(b'not CLIP')

    monkeypatch.setattr(torch.hub, 'download_url_to_file', download)
    with pytest.raises(ValueError, match='has SHA-256 .* not 40d36571'):
        resolve_clip_checkpoint('ViT-B/32', cache_dir=str(tmp_path))


def test_interpolate_pos_embed_keeps_class_token_and_same_size():
    pos_embed = torch.randn(1 + 7 * 7, 8)
    assert interpolate_pos_embed(pos_embed, 7) is pos_embed
    resized = interpolate_pos_embed(pos_embed, (20, 15))
    assert resized.shape == (1 + 20 * 15, 8)
    assert torch.equal(resized[0], pos_embed[0])
    # bicubic weights sum to 1: a constant grid stays constant
    constant = torch.cat([pos_embed[:1], torch.full((49, 8), 0.5)])
    assert torch.allclose(
        interpolate_pos_embed(constant, (14, 14))[1:], torch.tensor(0.5))
    # the patch rows are resized as a (D, 7, 7) image
    grid = pos_embed[1:].T.reshape(1, 8, 7, 7)
    expected = F.interpolate(
        grid, (20, 15), mode='bicubic', align_corners=False)
    assert torch.allclose(resized[1:], expected.flatten(2)[0].T)


def test_other_grids_need_resize_pos_embed(files):
    image = CLIPImageTower(checkpoint=files['state_dict'])
    with pytest.raises(
            ValueError,
            match='a 4x3 grid of patches, the positional '
            'embedding is for 2x2 .*resize_pos_embed=True'):
        image(torch.randn(1, 3, 32, 24))
    image.resize_pos_embed = True
    assert image(torch.randn(1, 3, 32, 24)).shape == (1, 32)
    # OADP's object view: stride half the patch, padding (patch - 1) // 2
    strided = CLIPImageTower(
        checkpoint=files['state_dict'],
        patch_stride=4,
        patch_padding=3,
        resize_pos_embed=True)
    assert strided.embed(torch.randn(1, 3, 16, 16)).shape == (17, 1, 128)


def test_text_embedding_is_taken_at_end_of_text(files):
    text = CLIPTextTower(checkpoint=files['state_dict']).eval()
    tokens = _tokens()
    with torch.no_grad():
        pooled = text(tokens)
        every = text.encode_tokens(tokens) @ text.text_projection
        # one row projected or all rows: GEMMs of other shapes may sum in
        # another order (e.g. with OMP_NUM_THREADS=1), so not bit for bit
        torch.testing.assert_close(pooled, every[torch.arange(3), [5, 11, 1]])
        # causal: what follows the end-of-text token changes nothing
        changed = tokens.clone()
        changed[0, 6:] = 7
        assert torch.allclose(text(changed)[0], pooled[0], atol=1e-6)
        # so rows may be cut after their end-of-text token
        assert torch.allclose(text(tokens[:1, :6]), pooled[:1], atol=1e-6)
    with pytest.raises(ValueError, match=r'L <= 12, got \[3, 13\]'):
        text(torch.zeros(3, 13, dtype=torch.long))


def _layer_norm(x, weight, bias):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean)**2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + 1e-5) * weight + bias


def _block(x, sd, prefix, heads, mask=None):
    """One of OpenAI's residual attention blocks on tokens (L, D), by
    hand."""
    p = {
        k[len(prefix):]: v.float()
        for k, v in sd.items() if k.startswith(prefix)
    }
    length, width = x.shape
    h = _layer_norm(x, p['ln_1.weight'], p['ln_1.bias'])
    q, k, v = (h @ p['attn.in_proj_weight'].T + p['attn.in_proj_bias']).split(
        width, dim=-1)
    outs = []
    for i in range(heads):
        cols = slice(i * width // heads, (i + 1) * width // heads)
        scores = q[:, cols] @ k[:, cols].T / (width // heads)**0.5
        if mask is not None:
            scores = scores + mask
        outs.append(scores.softmax(-1) @ v[:, cols])
    attn = torch.cat(outs, -1) @ p['attn.out_proj.weight'].T + \
        p['attn.out_proj.bias']
    x = x + attn
    h = _layer_norm(x, p['ln_2.weight'], p['ln_2.bias'])
    h = h @ p['mlp.c_fc.weight'].T + p['mlp.c_fc.bias']
    h = h * torch.sigmoid(1.702 * h)
    return x + h @ p['mlp.c_proj.weight'].T + p['mlp.c_proj.bias']


def test_image_tower_matches_a_hand_computation():
    sd = random_openai_clip(vision_layers=1, dtype=torch.float32)
    image = CLIPImageTower(checkpoint=sd).eval()
    images = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        got = image(images)
    for n in range(2):
        # 8x8 patches in row-major order, each flattened as conv1's kernel
        patches = images[n].reshape(3, 2, 8, 2, 8).permute(1, 3, 0, 2, 4)
        tokens = patches.reshape(4, -1) @ sd['visual.conv1.weight'].reshape(
            128, -1).T
        x = torch.cat([sd['visual.class_embedding'][None], tokens])
        x = x + sd['visual.positional_embedding']
        x = _layer_norm(x, sd['visual.ln_pre.weight'],
                        sd['visual.ln_pre.bias'])
        x = _block(x, sd, 'visual.transformer.resblocks.0.', heads=2)
        x = _layer_norm(x[0], sd['visual.ln_post.weight'],
                        sd['visual.ln_post.bias'])
        assert torch.allclose(got[n], x @ sd['visual.proj'], atol=1e-4)


def test_text_tower_matches_a_hand_computation():
    sd = random_openai_clip(text_layers=1, dtype=torch.float32)
    text = CLIPTextTower(checkpoint=sd).eval()
    tokens = _tokens()
    with torch.no_grad():
        got = text(tokens)
    causal = torch.full((12, 12), float('-inf')).triu(1)
    for n, eot in enumerate((5, 11, 1)):
        x = sd['token_embedding.weight'][
            tokens[n]] + sd['positional_embedding']
        x = _block(x, sd, 'transformer.resblocks.0.', heads=2, mask=causal)
        x = _layer_norm(x[eot], sd['ln_final.weight'], sd['ln_final.bias'])
        assert torch.allclose(got[n], x @ sd['text_projection'], atol=1e-4)


def test_outputs_equal_openai_clip_build_model(state_dict):
    clip_model = pytest.importorskip(
        'clip.model',
        reason='openai-clip is not installed; the hand computations above '
        'check the same arithmetic')
    # build_model rounds to float16 as OpenAI's files are: same weights
    reference = clip_model.build_model(dict(state_dict)).float().eval()
    image = CLIPImageTower(checkpoint=state_dict).eval()
    text = CLIPTextTower(checkpoint=state_dict).eval()
    images = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(
            image(images), reference.encode_image(images), atol=1e-5)
        assert torch.allclose(
            text(_tokens()), reference.encode_text(_tokens()), atol=1e-5)
    assert torch.equal(text.logit_scale, reference.logit_scale)


def test_vit_b_32_architecture_is_read_off_its_shapes():
    # ViT-B/32's keys and shapes on the meta device: no memory, no download
    shapes = openai_clip_shapes(
        embed_dim=512,
        vision_width=768,
        vision_layers=12,
        patch_size=32,
        grid=7,
        text_width=512,
        text_layers=12,
        context_length=77,
        vocab_size=49408)
    state_dict = {k: torch.empty(s, device='meta') for k, s in shapes.items()}
    assert clip_vision_config(state_dict) == dict(
        width=768,
        layers=12,
        heads=12,
        patch_size=32,
        input_resolution=224,
        output_dim=512)
    assert clip_text_config(state_dict) == dict(
        width=512,
        layers=12,
        heads=8,
        context_length=77,
        vocab_size=49408,
        output_dim=512)


def test_init_weights_keeps_the_loaded_weights(files):
    # a distiller calls init_weights() on its whole model
    image = CLIPImageTower(checkpoint=files['state_dict'])
    text = CLIPTextTower(checkpoint=files['state_dict'])
    before = {k: v.clone() for k, v in image.state_dict().items()}
    before.update({
        f'text.{k}': v.clone()
        for k, v in text.state_dict().items()
    })
    image.init_weights()
    text.init_weights()
    after = dict(image.state_dict())
    after.update({f'text.{k}': v for k, v in text.state_dict().items()})
    assert all(torch.equal(before[k], after[k]) for k in before)
