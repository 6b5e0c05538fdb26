# Channel-wise distillation (Shu et al., ICCV 2021; tau 4, weight 3 as its
# Cityscapes logit setting) of the DigitScenes MiT teacher's decode-head
# logits into the half-width MiT student on whole 256 px canvases: the
# generic logit baseline beside TransKD (docs/methods/transkd.md).
_base_ = ['../digit_scenes/segformer_mit-b0w16_2k_digit-scenes256.py']

model = dict(
    _delete_=True,
    type='mmkd.DistillModel',
    student={{_base_.model}},
    teacher=dict(cfg_path='{{fileDirname}}/../digit_scenes/'
                 'segformer_mit-t_4k_digit-scenes256.py'),
    teacher_ckpt='work_dirs/segformer_mit-t_4k_digit-scenes256/'
    'iter_4000.pth',
    taps=dict(
        student=dict(logits='decode_head.conv_seg'),
        teacher=dict(logits='decode_head.conv_seg')),
    losses=dict(
        cwd_logits=dict(
            type='ChannelWiseDivergence',
            tau=4.0,
            loss_weight=3.0,
            student='logits',
            teacher='logits')))
