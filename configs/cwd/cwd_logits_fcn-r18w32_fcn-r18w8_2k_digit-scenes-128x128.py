# Channel-wise distillation (Shu et al., ICCV 2021) of the decode-head logits
# of the DigitScenes teacher into the width-8 student.
_base_ = ['../digit_scenes/fcn_r18-w8_2k_digit-scenes-128x128.py']

teacher_ckpt = 'work_dirs/fcn_r18-w32_2k_digit-scenes-128x128/iter_2000.pth'
model = dict(
    _delete_=True,
    type='mmkd.DistillModel',
    student={{_base_.model}},
    teacher=dict(
        cfg_path='{{fileDirname}}/../digit_scenes/'
        'fcn_r18-w32_2k_digit-scenes-128x128.py'),
    teacher_ckpt=teacher_ckpt,
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
