# BPKD: PSPNet-R101 (52.47 mIoU) into PSPNet-R18 on Pascal Context-59;
# paper: 43.79 -> 46.82.
_base_ = [
    './students/pspnet_r18-d8_4xb4-80k_pascal-context-59-480x480.py',
    '../_base_/distill/bpkd_decode-logits.py'
]

model = dict(
    _delete_=True,
    type='mmkd.DistillModel',
    student={{_base_.model}},
    teacher=dict(
        cfg_path='mmseg::pspnet/pspnet_r101-d8_4xb4-80k_pascal-context-59-480x480.py'),
    teacher_ckpt='https://download.openmmlab.com/mmsegmentation/v0.5/pspnet/pspnet_r101-d8_480x480_80k_pascal_context_59/pspnet_r101-d8_480x480_80k_pascal_context_59_20210416_114418-fa6caaa2.pth',  # noqa: E501
    taps={{_base_.bpkd_taps}},
    losses={{_base_.bpkd_losses}})
