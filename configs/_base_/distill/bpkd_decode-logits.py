# BPKD (Liu et al., WACV 2024) on mmseg decode-head logits: the edge loss
# (lambda_E = 50, alpha = 2, tau = 1) and the body loss (CWD, lambda_B = 20,
# tau = 1) on a boundary band of kernel k = 5, with the losses' defaults
# (the public re-implementations' formula, docs/methods/bpkd.md).
# Method configs use these as taps={{_base_.bpkd_taps}},
# losses={{_base_.bpkd_losses}}.
bpkd_taps = dict(
    student=dict(logits='decode_head.conv_seg'),
    teacher=dict(logits='decode_head.conv_seg'))
bpkd_losses = dict(
    edge=dict(
        type='mmkd.BoundaryEdgeLoss',
        tau=1.0,
        alpha=2.0,
        kernel_size=5,
        loss_weight=50.0,
        student='logits',
        teacher='logits'),
    body=dict(
        type='mmkd.BoundaryBodyLoss',
        tau=1.0,
        kernel_size=5,
        loss_weight=20.0,
        student='logits',
        teacher='logits'))
