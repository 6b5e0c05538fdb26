# Copyright (c) mmkd contributors. All rights reserved.
"""TransKD's connectors and losses: formulas on hand-made tensors (values
computed by hand from the official ``hcl``, ``SK``/``SKF``, ``Attention``
and the training scripts' embedding loss), their initial values, the
batch-size-1 branch, and the whole method on tiny mmseg MiTs: taps, zero
losses for identical models, gradients, build-time errors."""
import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmkd.methods.transkd import (CrossStageFusion, EmbeddingAssistant,
                                  GLMixer, HierarchicalContextLoss,
                                  PatchEmbedAlign, WeightedEmbeddingLoss,
                                  hierarchical_context_loss)
from mmkd.registry import MODELS

STUDENT_DIMS = [4, 8, 20, 32]  # embed_dims 4 x heads (1, 2, 5, 8)
TEACHER_DIMS = [8, 16, 40, 64]


def stages(channels, size=16, n=2, seed=0):
    """Random NCHW stage maps at strides 1, 2, 4, 8 of ``size``."""
    g = torch.Generator().manual_seed(seed)
    return [
        torch.randn(n, c, size >> i, size >> i, generator=g)
        for i, c in enumerate(channels)
    ]


# ---------------------------------------------------------------- HCL
@pytest.mark.parametrize('size', [16, 8, 4, 2, 1])
def test_hcl_of_a_constant_difference_is_its_square_per_stage(size):
    """f_s - f_t = c everywhere: every MSE (full and pooled) is c^2, so
    (c^2 + sum c_l c^2) / (1 + sum c_l) = c^2 per stage, whatever levels
    are skipped (at size 4, 2, 1 the levels l >= 4, 2, 1 are)."""
    target = stages([3, 3, 3, 3], size=size * 8)
    c = 0.7
    loss = HierarchicalContextLoss()([t + c for t in target], target)
    assert float(loss) == pytest.approx(4 * c**2)


def checkerboard(height, width):
    rows = torch.arange(height)[:, None]
    cols = torch.arange(width)[None]
    return ((rows + cols) % 2 * 2 - 1).float()[None, None]


def test_hcl_on_hand_made_maps():
    """Official hcl: loss = MSE; cnt = tot = 1; for l in (4, 2, 1) with
    l < h: cnt /= 2, loss += cnt * MSE(pool_l), tot += cnt; loss / tot."""
    zero8 = torch.zeros(1, 1, 8, 8)
    # a +-1 checkerboard: MSE 1, every pooled map averages to 0;
    # levels 4, 2, 1 all used: 1 / (1 + 1/2 + 1/4 + 1/8) = 1 / 1.875
    assert float(hierarchical_context_loss(checkerboard(8, 8),
                                           zero8)) == pytest.approx(1 /
                                                                    1.875)
    # a 2x2 map: levels 4 and 2 are skipped, level 1 weighs 1/2:
    # (1 + 0) / 1.5
    assert float(
        hierarchical_context_loss(checkerboard(2, 2),
                                  torch.zeros(1, 1, 2, 2))) == pytest.approx(
                                      2 / 3)
    # 8 rows of (+1, -1): the reference tests the height only, so levels 4
    # and 2 are used on a 2-wide map (adaptive pooling repeats its columns:
    # MSE 1 each), level 1 averages to 0: (1 + 1/2 + 1/4) / 1.875
    stripes = torch.tensor([1., -1.]).expand(1, 1, 8, 2)
    zero = torch.zeros(1, 1, 8, 2)
    assert float(hierarchical_context_loss(stripes, zero)) == \
        pytest.approx(1.75 / 1.875)
    # level_check='both' skips levels >= min(H, W) = 2: (1 + 0) / 1.5
    assert float(hierarchical_context_loss(
        stripes, zero, level_check='both')) == pytest.approx(2 / 3)
    loss = HierarchicalContextLoss(level_check='both', loss_weight=2.0)
    assert float(loss([stripes, checkerboard(8, 8)],
                      [zero, zero8])) == pytest.approx(2 * (2 / 3 +
                                                            1 / 1.875))


def test_hcl_refuses_mismatched_stages():
    loss = HierarchicalContextLoss()
    with pytest.raises(ValueError, match='3 student stages but 4 teacher'):
        loss(stages([2, 2, 2]), stages([2, 2, 2, 2]))
    with pytest.raises(ValueError, match=r'stage 2: student map \(2, 2, 8, '
                       r'8\) and teacher map \(2, 3, 8, 8\)'):
        loss(stages([2, 2]), stages([2, 3]))
    with pytest.raises(ValueError, match="level_check must be one of"):
        HierarchicalContextLoss(level_check='width')


# ---------------------------------------------------------------- PEA loss
def test_embedding_loss_weights_the_stages():
    """sum_i w_i * MSE_i with w = (0.1, 0.1, 0.5, 1) and constant
    differences 1, 2, 3, 4: 0.1 + 0.4 + 4.5 + 16 = 21."""
    target = [torch.randn(2, 16 >> i, 4) for i in range(4)]
    pred = [t + (i + 1) for i, t in enumerate(target)]
    assert float(WeightedEmbeddingLoss()(pred, target)) == pytest.approx(21)
    assert float(
        WeightedEmbeddingLoss(stage_weights=(1, 0, 0, 0),
                              loss_weight=3.)(pred, target)) == \
        pytest.approx(3.)
    with pytest.raises(ValueError, match=r'3 student and 3 teacher '
                       r'embeddings for 4 stage_weights'):
        WeightedEmbeddingLoss()(pred[:3], target[:3])


# ---------------------------------------------------------------- CSF
def test_csf_maps_each_stage_to_the_teachers_channels():
    feats = stages(STUDENT_DIMS)
    outs = CrossStageFusion(STUDENT_DIMS, TEACHER_DIMS)(feats)
    assert [tuple(o.shape) for o in outs] == [
        (2, c, f.shape[2], f.shape[3]) for c, f in zip(TEACHER_DIMS, feats)
    ]


def test_csf_fuses_deep_to_shallow():
    """With the attention convs zeroed, the softmax gives each branch 1/2:
    the shallow stage's result is out(reduce(x1) / 2 + up(reduce(x2)) / 2)
    with nearest upsampling, and the deepest is out(reduce(x2))."""
    torch.manual_seed(0)
    csf = CrossStageFusion([3, 5], [4, 6]).eval()
    shallow, deep = csf.blocks
    for fc in shallow.fcs:
        nn.init.zeros_(fc.weight)
        nn.init.zeros_(fc.bias)
    x1, x2 = torch.randn(2, 3, 8, 8), torch.randn(2, 5, 4, 4)
    outs = csf([x1, x2])
    res = deep.reduce(x2)
    torch.testing.assert_close(outs[1], deep.out(res))
    up = res.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    expected = shallow.out((shallow.reduce(x1) + up) / 2)
    torch.testing.assert_close(outs[0], expected)
    # the reference's squeeze width: max(64 // 16, 32)
    assert CrossStageFusion([3, 5], [4, 6]).blocks[0].fc[0].out_channels \
        == 32


def test_csf_batch_size_1_branch():
    """Default: at batch 1 the shared fc runs, its BN on running
    statistics (left unchanged); faithful_bs1_branch: the separate fc1
    (conv + ReLU) runs at batch 1 and fc at batch 2, as the reference."""
    torch.manual_seed(0)
    x = [torch.randn(1, 4, 8, 8), torch.randn(1, 8, 4, 4)]
    csf = CrossStageFusion([4, 8], [8, 16], mid_channels=16).train()
    block = csf.blocks[0]
    assert not hasattr(block, 'fc1')
    block.fc[1].running_mean.fill_(0.5)
    before = block.fc[1].running_mean.clone()
    pooled = torch.randn(1, 16, 1, 1)
    got = block.squeeze(pooled)
    conv, bn, _ = block.fc
    expected = F.relu((conv(pooled) - 0.5) / torch.sqrt(
        bn.running_var + bn.eps)[:, None, None] * bn.weight[:, None, None] +
                      bn.bias[:, None, None])
    torch.testing.assert_close(got, expected)
    csf(x)
    torch.testing.assert_close(block.fc[1].running_mean, before)

    faithful = CrossStageFusion([4, 8], [8, 16], mid_channels=16,
                                faithful_bs1_branch=True).train()
    block = faithful.blocks[0]
    torch.testing.assert_close(block.squeeze(pooled),
                               F.relu(block.fc1[0](pooled)))
    two = torch.randn(2, 16, 1, 1)
    torch.testing.assert_close(block.squeeze(two), block.fc(two))
    # the batch-1 output depends on fc1, not on fc (in eval mode: in
    # training at init, the BN'd branches of one sample average to BN's
    # zero bias, and fc1 reads that average)
    faithful.eval()
    out = faithful(x)[0]
    nn.init.zeros_(block.fc[0].weight)
    torch.testing.assert_close(faithful(x)[0], out)
    nn.init.zeros_(block.fc1[0].weight)
    assert not torch.allclose(faithful(x)[0], out)


def test_csf_refuses_inputs_that_do_not_fit():
    csf = CrossStageFusion(STUDENT_DIMS, TEACHER_DIMS)
    with pytest.raises(ValueError, match='got 3 student stage maps but '
                       'in_channels lists 4'):
        csf(stages(STUDENT_DIMS[:3]))
    with pytest.raises(ValueError, match=r'stage 3: the student stage map '
                       r'has shape \(2, 21, 4, 4\) but in_channels\[2\] is '
                       '20'):
        csf(stages([4, 8, 21, 32]))
    with pytest.raises(ValueError, match='one entry per stage'):
        CrossStageFusion([4, 8], [8])


# ---------------------------------------------------------------- GL-Mixer
def test_gl_mixer_starts_at_the_documented_init():
    mixer = GLMixer(32, 64)
    assert mixer.attn_weight.tolist() == [1.0]
    assert mixer.glu_weight.tolist() == [1.0]
    assert mixer.attn.qkv.bias is None and mixer.attn.num_heads == 8
    mixer = GLMixer(32, attn_weight_init=0.5, glu_weight_init=0.25)
    assert mixer.attn_weight.tolist() == [0.5]
    assert mixer.glu_weight.tolist() == [0.25]
    assert mixer.proj is None


def test_gl_mixer_formula():
    """e' = a * MHSA(e) + b * GLU(e) (+ e with add), then the linear; the
    MHSA is torch's multi-head attention with the same weights (no
    in-projection bias) and GLU = conv1d(e) * sigmoid(conv1d'(e))."""
    torch.manual_seed(0)
    mixer = GLMixer(16, 24, num_heads=4, attn_weight_init=0.3,
                    glu_weight_init=0.6)
    e = torch.randn(2, 10, 16)
    mha = nn.MultiheadAttention(16, 4, bias=True, batch_first=True)
    with torch.no_grad():
        mha.in_proj_weight.copy_(mixer.attn.qkv.weight)
        mha.in_proj_bias.zero_()
        mha.out_proj.load_state_dict(mixer.attn.proj.state_dict())
    attn = mha(e, e, e, need_weights=False)[0]
    t = e.transpose(1, 2)
    glu = (F.conv1d(t, mixer.glu_value.weight, mixer.glu_value.bias,
                    padding=1) *
           torch.sigmoid(F.conv1d(t, mixer.glu_gate.weight,
                                  mixer.glu_gate.bias, padding=1)))
    mixed = 0.3 * attn + 0.6 * glu.transpose(1, 2)
    torch.testing.assert_close(mixer(e), mixer.proj(mixed))
    mixer.add = True
    torch.testing.assert_close(mixer(e), mixer.proj(mixed + e))


def test_gl_mixer_heads_must_divide_the_dim():
    with pytest.raises(ValueError, match=r'num_heads=8 does not divide the '
                       'embedding dim in_channels=20'):
        GLMixer(20)
    with pytest.raises(ValueError, match='num_heads=8 does not divide'):
        PatchEmbedAlign([4, 20], [8, 40],
                        stage_connectors=[None, dict(type='GLMixer')])


def test_pea_maps_each_stage_and_takes_a_gl_mixer():
    pea = PatchEmbedAlign(STUDENT_DIMS, TEACHER_DIMS,
                          stage_connectors=[None, None, None,
                                            dict(type='GLMixer')])
    assert isinstance(pea.projs[3], GLMixer)
    assert (pea.projs[3].in_channels, pea.projs[3].out_channels) == (32, 64)
    embeds = [torch.randn(2, 64 >> (2 * i), c)
              for i, c in enumerate(STUDENT_DIMS)]
    outs = pea(embeds)
    assert [o.shape[-1] for o in outs] == TEACHER_DIMS
    torch.testing.assert_close(outs[0], pea.projs[0](embeds[0]))
    with pytest.raises(ValueError, match=r'stage 2: the student embedding '
                       r'has shape \(2, 16, 9\) but in_channels\[1\] is 8'):
        pea([embeds[0], torch.randn(2, 16, 9), *embeds[2:]])


# ---------------------------------------------------------------- EA
def test_ea_weights_start_at_the_reference_values_and_fuse():
    """fused_i = w_i * Linear_i(e_i) + w_(i+4) * PE_i(x_i), w starting at
    0.1, 0.2, ..., 0.8."""
    torch.manual_seed(0)
    ea = EmbeddingAssistant(STUDENT_DIMS, TEACHER_DIMS)
    assert ea.fuse_weights.tolist() == pytest.approx(
        [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    image = torch.randn(2, 3, 64, 64)
    sources = [image] + stages(STUDENT_DIMS[:3], size=16)
    embeds = [torch.randn(2, 256 >> (2 * i), c)
              for i, c in enumerate(STUDENT_DIMS)]
    outs = ea(embeds + sources)
    for i in range(4):
        assist = ea.assistants[i](sources[i])
        assert assist.shape == (2, 256 >> (2 * i), TEACHER_DIMS[i])
        expected = (0.1 * (i + 1) * ea.projs[i](embeds[i]) +
                    0.1 * (i + 5) * assist)
        torch.testing.assert_close(outs[i], expected)
    # the reference's assistants: 7x7 stride 4 from RGB, then 3x3 stride 2
    assert [(a.projection.kernel_size, a.projection.stride)
            for a in ea.assistants] == [((7, 7), (4, 4))] + [((3, 3),
                                                              (2, 2))] * 3
    with pytest.raises(ValueError, match='takes 8 tensors'):
        ea(embeds)


# ------------------------------------------------------- on tiny mmseg MiTs
def segformer(embed_dims, num_classes=3):
    return dict(
        type='mmseg.EncoderDecoder',
        data_preprocessor=dict(type='mmseg.SegDataPreProcessor',
                               mean=[0., 0., 0.], std=[255., 255., 255.],
                               size=(64, 64)),
        backbone=dict(type='mmseg.MixVisionTransformer', embed_dims=embed_dims,
                      num_layers=[1, 1, 1, 1], num_heads=[1, 2, 5, 8],
                      sr_ratios=[8, 4, 2, 1]),
        decode_head=dict(type='mmseg.SegformerHead',
                         in_channels=[embed_dims * h for h in (1, 2, 5, 8)],
                         in_index=[0, 1, 2, 3], channels=16, num_classes=3,
                         norm_cfg=dict(type='BN'),
                         loss_decode=dict(type='mmseg.CrossEntropyLoss')),
        train_cfg=dict(),
        test_cfg=dict(mode='whole'))


def embed_taps(n=4, io='output'):
    if io == 'input':
        return {f'in{i + 1}': dict(path=f'backbone.layers.{i}.0', io='input')
                for i in range(n)}
    return {f'embed{i + 1}': dict(path=f'backbone.layers.{i}.0', index=0)
            for i in range(n)}


def transkd_cfg(ckpt, student_dims=4, teacher_dims=8, variant='base',
                student=None, teacher=None):
    s_ch = [student_dims * h for h in (1, 2, 5, 8)]
    t_ch = [teacher_dims * h for h in (1, 2, 5, 8)]
    embeds = [f'embed{i}' for i in range(1, 5)]
    pea = dict(type='PatchEmbedAlign', in_channels=s_ch, out_channels=t_ch)
    if variant == 'gl':
        pea['stage_connectors'] = [None, None, None, dict(type='GLMixer')]
    student_embeds = embeds
    if variant == 'ea':
        pea = dict(type='EmbeddingAssistant', in_channels=s_ch,
                   out_channels=t_ch)
        student_embeds = embeds + [f'in{i}' for i in range(1, 5)]
    return dict(
        type='DistillModel',
        student=student or segformer(student_dims),
        teacher=teacher or segformer(teacher_dims),
        teacher_ckpt=ckpt,
        taps=dict(
            student=dict(stages='backbone', **embed_taps(),
                         **embed_taps(io='input')),
            teacher=dict(stages='backbone', **embed_taps())),
        losses=dict(
            hcl=dict(type='HierarchicalContextLoss', student='stages',
                     teacher='stages',
                     connector=dict(type='CrossStageFusion',
                                    in_channels=s_ch, out_channels=t_ch)),
            pea=dict(type='WeightedEmbeddingLoss', student=student_embeds,
                     teacher=embeds, connector=pea)))


def save_teacher(tmp_path, cfg, seed=1):
    init_default_scope('mmkd')
    torch.manual_seed(seed)
    teacher = MODELS.build(cfg)
    path = str(tmp_path / 'teacher.pth')
    torch.save(dict(state_dict=teacher.state_dict()), path)
    return path


def batch(n=2, size=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return dict(
        inputs=[torch.randint(256, (3, size, size), generator=g).float()
                for _ in range(n)],
        data_samples=[
            SegDataSample(gt_sem_seg=PixelData(
                data=torch.randint(3, (1, size, size), generator=g)),
                metainfo=dict(img_shape=(size, size), pad_shape=(size,
                                                                 size)))
            for _ in range(n)
        ])


def test_mit_taps_give_nlc_embeddings_and_stage_inputs(tmp_path):
    """backbone.layers.{i}.0 with index=0: NLC tokens after the patch
    embedding's LayerNorm; with io='input': the image, then the previous
    stage's NCHW output; the backbone's output: the NCHW stages."""
    init_default_scope('mmkd')
    cfg = transkd_cfg(save_teacher(tmp_path, segformer(8)))
    model = MODELS.build(cfg)
    data = model.data_preprocessor(batch(), True)
    _, feats = model.distiller.capture_student(
        lambda: model.student(data['inputs'], data['data_samples'],
                              mode='loss'))
    for i, c in enumerate(STUDENT_DIMS):
        side = 64 >> (i + 2)
        assert feats[f'embed{i + 1}'].shape == (2, side * side, c)
        assert feats['stages'][i].shape == (2, c, side, side)
    assert torch.equal(feats['in1'], data['inputs'])
    for i in range(1, 4):
        assert feats[f'in{i + 1}'] is feats['stages'][i - 1]
    teacher = model.distiller.teacher_forward(data['inputs'],
                                              data['data_samples'])
    assert [t.shape[-1] for t in (teacher[f'embed{i}']
                                  for i in range(1, 5))] == TEACHER_DIMS


@pytest.mark.parametrize('variant', ['base', 'gl', 'ea'])
def test_gradients_reach_the_student_and_connectors_only(tmp_path, variant):
    init_default_scope('mmkd')
    model = MODELS.build(
        transkd_cfg(save_teacher(tmp_path, segformer(8)), variant=variant))
    model.train()
    losses = model(**model.data_preprocessor(batch(), True), mode='loss')
    assert losses['distill.loss_hcl'].item() > 0
    assert losses['distill.loss_pea'].item() > 0
    sum(losses['distill.loss_' + k] for k in ('hcl', 'pea')).backward()
    assert all(p.grad is None for p in model.teacher.parameters())
    connectors = model.distiller.loss_connectors
    for name in ('hcl', 'pea'):
        assert all(p.grad is not None and p.grad.abs().sum() > 0
                   for n, p in connectors[name].named_parameters()
                   if not n.endswith('fc1.0.weight')), name
    backbone = model.student.backbone
    assert backbone.layers[0][0].projection.weight.grad.abs().sum() > 0
    if variant == 'ea':
        assert connectors['pea'].fuse_weights.grad.abs().min() > 0
    if variant == 'gl':
        mixer = connectors['pea'].projs[3]
        assert mixer.attn_weight.grad is not None
        assert mixer.glu_weight.grad is not None
    # the connectors train and checkpoint with the student
    keys = model.state_dict().keys()
    assert 'distiller.loss_connectors.hcl.blocks.0.fc.0.weight' in keys
    assert not any(k.startswith('teacher') for k in keys)


def test_losses_are_zero_for_a_teacher_equal_to_the_student(tmp_path):
    """The student is the teacher, the embeddings pass through identity
    linear maps and the stages through no connector: both losses are 0."""
    init_default_scope('mmkd')
    ckpt = save_teacher(tmp_path, segformer(4))
    cfg = transkd_cfg(ckpt, teacher_dims=4)
    del cfg['losses']['hcl']['connector']
    model = MODELS.build(cfg)
    model.student.load_state_dict(copy.deepcopy(model.teacher.state_dict()))
    for proj in model.distiller.loss_connectors['pea'].projs:
        nn.init.eye_(proj.weight)
        nn.init.zeros_(proj.bias)
    model.eval()  # the same (eval-mode) forward on both sides
    data = model.data_preprocessor(batch(), True)
    losses = model.loss(**data)
    # 0 up to rounding: under no_grad the teacher's nn.MultiheadAttention
    # takes PyTorch's fused fast path, the student's the plain one
    assert losses['distill.loss_hcl'].item() == pytest.approx(0, abs=1e-10)
    assert losses['distill.loss_pea'].item() == pytest.approx(0, abs=1e-10)


def test_teacher_and_student_with_different_stage_counts(tmp_path):
    init_default_scope('mmkd')
    teacher = segformer(8)
    teacher['backbone']['out_indices'] = (0, 1, 2)
    teacher['decode_head'].update(in_channels=[8, 16, 40],
                                  in_index=[0, 1, 2])
    ckpt = save_teacher(tmp_path, teacher)
    with pytest.raises(ValueError, match=r"CrossStageFusion of distill "
                       r"loss 'hcl': the student has 4 stages \(backbone "
                       r"output 0.*but the teacher has 3"):
        MODELS.build(transkd_cfg(ckpt, teacher=teacher))
    cfg = transkd_cfg(ckpt, teacher=teacher)
    cfg['losses'].pop('hcl')
    cfg['losses']['pea']['teacher'] = ['embed1', 'embed2', 'embed3']
    with pytest.raises(ValueError, match=r"PatchEmbedAlign of distill loss "
                       r"'pea': the student has 4 stages.*but the teacher "
                       r"has 3"):
        MODELS.build(cfg)


def test_channel_lists_that_do_not_match_the_taps(tmp_path):
    init_default_scope('mmkd')
    ckpt = save_teacher(tmp_path, segformer(8))
    cfg = transkd_cfg(ckpt)
    cfg['losses']['hcl']['connector']['in_channels'] = [4, 8, 16, 32]
    with pytest.raises(ValueError, match=r"stage 3: the student stage maps "
                       r"at backbone output 2 have 20 channels but "
                       r"in_channels\[2\] is 16"):
        MODELS.build(cfg)
    cfg = transkd_cfg(ckpt)
    cfg['losses']['pea']['connector']['out_channels'] = [8, 16, 40, 48]
    with pytest.raises(ValueError, match=r"stage 4: the teacher embeddings "
                       r"at backbone.layers.3.0 have 64 channels but "
                       r"out_channels\[3\] is 48"):
        MODELS.build(cfg)
    cfg = transkd_cfg(ckpt, variant='ea')
    cfg['losses']['pea']['connector']['in_channels'] = [4, 8, 20, 30]
    with pytest.raises(ValueError, match=r"stage 4: the student embeddings "
                       r"at backbone.layers.3.0 have 32 channels but "
                       r"in_channels\[3\] is 30"):
        MODELS.build(cfg)


def test_gl_heads_that_do_not_divide_the_stage_4_dim(tmp_path):
    init_default_scope('mmkd')
    cfg = transkd_cfg(save_teacher(tmp_path, segformer(8)), variant='gl')
    cfg['losses']['pea']['connector']['stage_connectors'][3] = dict(
        type='GLMixer', num_heads=5)
    with pytest.raises(ValueError, match=r'num_heads=5 does not divide the '
                       r'embedding dim in_channels=32'):
        MODELS.build(cfg)


def test_ea_needs_patch_embeddings(tmp_path):
    """A ResNet student has no patch embeddings: EA refuses it at build."""
    init_default_scope('mmkd')
    ckpt = save_teacher(tmp_path, segformer(8))
    cfg = transkd_cfg(ckpt, variant='ea')
    cfg['student'] = dict(
        type='mmseg.EncoderDecoder',
        data_preprocessor=segformer(4)['data_preprocessor'],
        backbone=dict(type='mmseg.ResNetV1c', depth=18, base_channels=8,
                      stem_channels=8),
        decode_head=dict(type='mmseg.FCNHead', in_channels=64, channels=8,
                         num_classes=3, norm_cfg=dict(type='BN'),
                         loss_decode=dict(type='mmseg.CrossEntropyLoss')))
    cfg['taps']['student'] = dict(
        stages='backbone',
        **{f'embed{i}': f'backbone.layer{i}' for i in range(1, 5)},
        **{f'in{i}': dict(path=f'backbone.layer{i}', io='input')
           for i in range(1, 5)})
    cfg['losses'].pop('hcl')
    with pytest.raises(ValueError, match=r"backbone.layer1 \(ResLayer\) is "
                       r"not a patch embedding: EA needs a backbone with "
                       r"patch embeddings"):
        MODELS.build(cfg)


@pytest.mark.parametrize('loss_type', ['ChannelWiseDivergence',
                                       'KLDivergence'])
def test_cwd_or_kl_replaces_hcl_on_the_fused_maps(tmp_path, loss_type):
    """The reference's CriterionCWD options: norm_type='channel' with KL
    and temperature T is the engine's ChannelWiseDivergence(tau=T) (KL of
    spatial softmaxes, / (N * C), * T^2), norm_type='spatial' its
    KLDivergence(tau=T) (softmax over channels, / (N * H * W)); on CSF's
    maps, summed over the stages as the reference's loop does."""
    from mmkd.models.losses import ChannelWiseDivergence, KLDivergence
    init_default_scope('mmkd')
    cfg = transkd_cfg(save_teacher(tmp_path, segformer(8)))
    hcl = cfg['losses'].pop('hcl')
    cfg['losses'] = dict(cwd=dict(hcl, type=loss_type, tau=2.0))
    model = MODELS.build(cfg).eval()
    student, teacher = stages(STUDENT_DIMS), stages(TEACHER_DIMS, seed=1)
    loss = model.distiller.compute_distill_losses(
        dict(stages=student), dict(stages=teacher), None)['distill.loss_cwd']
    fused = model.distiller.loss_connectors['cwd'](student)
    ref = dict(ChannelWiseDivergence=ChannelWiseDivergence,
               KLDivergence=KLDivergence)[loss_type](tau=2.0)
    expected = sum(ref(f, t) for f, t in zip(fused, teacher))
    assert loss.item() == pytest.approx(expected.item())
    # the reference's channel-norm KL by hand on the deepest stage
    s, t = fused[3] / 2.0, teacher[3] / 2.0
    n, c = s.shape[:2]
    if loss_type == 'ChannelWiseDivergence':
        p_s, p_t = (x.flatten(2).softmax(-1) for x in (s, t))
        div = F.kl_div(p_s.log(), p_t, reduction='sum') / (n * c)
    else:
        div = F.kl_div(s.softmax(1).log(), t.softmax(1),
                       reduction='sum') / (n * s.shape[2] * s.shape[3])
    assert (div * 4).item() == pytest.approx(
        ref(fused[3], teacher[3]).item(), rel=1e-5)
