# BPKD: PSPNet-R101 (160k, 44.39 mIoU: the paper's teacher) into PSPNet-R18 on
# ADE20K; paper: 33.30 -> 38.51.
_base_ = [
    './students/pspnet_r18-d8_4xb4-80k_ade20k-512x512.py',
    '../_base_/distill/bpkd_decode-logits.py'
]

model = dict(
    _delete_=True,
    type='mmkd.DistillModel',
    student={{_base_.model}},
    teacher=dict(
        cfg_path='mmseg::pspnet/pspnet_r101-d8_4xb4-160k_ade20k-512x512.py'),
    teacher_ckpt='https://download.openmmlab.com/mmsegmentation/v0.5/pspnet/pspnet_r101-d8_512x512_160k_ade20k/pspnet_r101-d8_512x512_160k_ade20k_20200615_100650-967c316f.pth',  # noqa: E501
    taps={{_base_.bpkd_taps}},
    losses={{_base_.bpkd_losses}})
