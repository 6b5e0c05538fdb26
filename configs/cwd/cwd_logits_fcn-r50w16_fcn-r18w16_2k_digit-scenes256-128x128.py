# Channel-wise distillation (Shu et al., ICCV 2021; tau 4, weight 3 as its
# Cityscapes logit setting) of the 256 px DigitScenes teacher's decode-head
# logits into the width-16 student: BPKD's baseline in the paper.
_base_ = ['../digit_scenes/fcn_r18-w16_2k_digit-scenes256-128x128.py']

model = dict(
    _delete_=True,
    type='mmkd.DistillModel',
    student={{_base_.model}},
    teacher=dict(
        cfg_path='{{fileDirname}}/../digit_scenes/'
        'fcn_r50-w16_2k_digit-scenes256-128x128.py'),
    teacher_ckpt='work_dirs/fcn_r50-w16_2k_digit-scenes256-128x128/'
    'iter_2000.pth',
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
