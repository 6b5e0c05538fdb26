# TransKD-Base (Liu et al., 2022; official train/CSF.py): the student's four
# MiT stages fused by CSF and compared with the teacher's by HCL, and the
# four patch embeddings mapped by PEA and compared by a stage-weighted MSE
# (0.1, 0.1, 0.5, 1); no logit distillation; both loss weights 1.
# Channels of a MiT-B2-wide teacher (64, 128, 320, 512; B1 has the same) and
# a MiT-B0 student (32, 64, 160, 256); another pair overrides
# transkd_losses' in_channels/out_channels. Taps on mmseg's
# MixVisionTransformer: `backbone` yields the stages (post-LN, NCHW);
# `backbone.layers.{i}.0` is stage i's PatchEmbed, whose element 0 is its
# tokens (NLC, after the patch embedding's LayerNorm, before the blocks).
# Method configs use taps={{_base_.transkd_taps}},
# losses={{_base_.transkd_losses}}; docs/methods/transkd.md.
transkd_student_channels = [32, 64, 160, 256]
transkd_teacher_channels = [64, 128, 320, 512]
transkd_embed_taps = {
    f'embed{i + 1}': dict(path=f'backbone.layers.{i}.0', index=0)
    for i in range(4)
}
transkd_taps = dict(
    student=dict(stages='backbone', **transkd_embed_taps),
    teacher=dict(stages='backbone', **transkd_embed_taps))
transkd_losses = dict(
    hcl=dict(
        type='mmkd.HierarchicalContextLoss',
        levels=(4, 2, 1),
        loss_weight=1.0,
        student='stages',
        teacher='stages',
        connector=dict(
            type='mmkd.CrossStageFusion',
            in_channels=transkd_student_channels,
            out_channels=transkd_teacher_channels,
            mid_channels=64)),
    pea=dict(
        type='mmkd.WeightedEmbeddingLoss',
        stage_weights=(0.1, 0.1, 0.5, 1.0),
        loss_weight=1.0,
        student=['embed1', 'embed2', 'embed3', 'embed4'],
        teacher=['embed1', 'embed2', 'embed3', 'embed4'],
        connector=dict(
            type='mmkd.PatchEmbedAlign',
            in_channels=transkd_student_channels,
            out_channels=transkd_teacher_channels)))
