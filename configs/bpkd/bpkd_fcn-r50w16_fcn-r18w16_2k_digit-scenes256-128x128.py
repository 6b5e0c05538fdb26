# BPKD of the 256 px DigitScenes teacher (FCN R50 width 16) into the width-16
# student (the demo's distillation), with the paper's losses and k = 5 as
# the public re-implementations compute them
# (../_base_/distill/bpkd_decode-logits.py). Results: docs/methods/bpkd.md.
_base_ = [
    '../digit_scenes/fcn_r18-w16_2k_digit-scenes256-128x128.py',
    '../_base_/distill/bpkd_decode-logits.py'
]

model = dict(
    _delete_=True,
    type='mmkd.DistillModel',
    student={{_base_.model}},
    teacher=dict(
        cfg_path='{{fileDirname}}/../digit_scenes/'
        'fcn_r50-w16_2k_digit-scenes256-128x128.py'),
    teacher_ckpt='work_dirs/fcn_r50-w16_2k_digit-scenes256-128x128/'
    'iter_2000.pth',
    taps={{_base_.bpkd_taps}},
    losses={{_base_.bpkd_losses}})
