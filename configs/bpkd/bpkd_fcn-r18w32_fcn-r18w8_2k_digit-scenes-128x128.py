# BPKD of the DigitScenes teacher's decode-head logits into the width-8
# student (the demo's distillation): the losses of
# ../_base_/distill/bpkd_decode-logits.py with k = 3 instead of 5. Digits are
# 20-48 px on 128 px canvases and the logits have stride 8, so a k = 5 band
# covers most of a digit and leaves the body loss little body
# (docs/methods/bpkd.md). Its numbers there were tuned and measured with
# mmkd's former defaults, set here explicitly (the edge band of the label
# map's edge pixels, no band along ignored pixels, the mean over classes,
# no tau^2; tau = 1 makes the last one moot).
_base_ = [
    '../digit_scenes/fcn_r18-w8_2k_digit-scenes-128x128.py',
    '../_base_/distill/bpkd_decode-logits.py'
]

model = dict(
    _delete_=True,
    type='mmkd.DistillModel',
    student={{_base_.model}},
    teacher=dict(
        cfg_path='{{fileDirname}}/../digit_scenes/'
        'fcn_r18-w32_2k_digit-scenes-128x128.py'),
    teacher_ckpt='work_dirs/fcn_r18-w32_2k_digit-scenes-128x128/iter_2000.pth',
    taps={{_base_.bpkd_taps}},
    losses=dict(
        edge=dict(
            type='mmkd.BoundaryEdgeLoss',
            tau=1.0,
            alpha=2.0,
            kernel_size=3,
            edge_order='detect_then_onehot',
            ignore_mode='inside',
            class_reduction='mean',
            tau_squared=False,
            loss_weight=50.0,
            student='logits',
            teacher='logits'),
        body=dict(
            type='mmkd.BoundaryBodyLoss',
            tau=1.0,
            kernel_size=3,
            edge_order='detect_then_onehot',
            ignore_mode='inside',
            loss_weight=20.0,
            student='logits',
            teacher='logits')))
