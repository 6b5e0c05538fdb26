# An unmodified mmseg training config (the DigitScenes width-8 student) plus
# the lines that add distillation; mmseg's own tools/train.py runs it.
_base_ = ['../../../configs/digit_scenes/fcn_r18-w8_2k_digit-scenes-128x128.py']

custom_imports = dict(imports=['mmkd'], allow_failed_imports=False)
custom_hooks = [
    dict(
        type='mmkd.DistillHook',
        teacher=dict(cfg_path='{{fileDirname}}/../../../configs/digit_scenes/'
                     'fcn_r18-w32_2k_digit-scenes-128x128.py'),
        teacher_ckpt='work_dirs/fcn_r18-w32_2k_digit-scenes-128x128/'
        'iter_2000.pth',
        taps=dict(
            student=dict(logits='decode_head.conv_seg', c5='backbone.layer4'),
            teacher=dict(logits='decode_head.conv_seg', c5='backbone.layer4')),
        connectors=dict(
            c5=dict(type='ConvConnector', in_channels=64, out_channels=256)),
        losses=dict(
            cwd_logits=dict(
                type='ChannelWiseDivergence',
                tau=4.0,
                loss_weight=3.0,
                student='logits',
                teacher='logits'),
            mse_c5=dict(
                type='MSEFeatureLoss',
                normalize=True,
                loss_weight=1.0,
                student='c5',
                teacher='c5')))
]
