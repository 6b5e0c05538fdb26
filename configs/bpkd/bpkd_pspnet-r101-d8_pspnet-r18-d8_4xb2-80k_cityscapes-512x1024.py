# BPKD: PSPNet-R101 (79.76 mIoU) into PSPNet-R18 on Cityscapes; paper: 74.23 -> 77.57.
_base_ = [
    'mmseg::pspnet/pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py',
    '../_base_/distill/bpkd_decode-logits.py'
]

model = dict(
    _delete_=True,
    type='mmkd.DistillModel',
    student={{_base_.model}},
    teacher=dict(
        cfg_path='mmseg::pspnet/pspnet_r101-d8_4xb2-80k_cityscapes-512x1024.py'),
    teacher_ckpt='https://download.openmmlab.com/mmsegmentation/v0.5/pspnet/pspnet_r101-d8_512x1024_80k_cityscapes/pspnet_r101-d8_512x1024_80k_cityscapes_20200606_112211-e1e1100f.pth',  # noqa: E501
    taps={{_base_.bpkd_taps}},
    losses={{_base_.bpkd_losses}})
