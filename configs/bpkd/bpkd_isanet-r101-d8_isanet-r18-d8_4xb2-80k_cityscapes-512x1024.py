# BPKD: ISANet-R101 (80.32 mIoU) into ISANet-R18 on Cityscapes; paper: 73.62 -> 75.72
# with the 769x769 teacher (80.61), whose 769 px preprocessor would pad the
# teacher's inputs differently from the student's.
_base_ = [
    './students/isanet_r18-d8_4xb2-80k_cityscapes-512x1024.py',
    '../_base_/distill/bpkd_decode-logits.py'
]

model = dict(
    _delete_=True,
    type='mmkd.DistillModel',
    student={{_base_.model}},
    teacher=dict(
        cfg_path='mmseg::isanet/isanet_r101-d8_4xb2-80k_cityscapes-512x1024.py'),
    teacher_ckpt='https://download.openmmlab.com/mmsegmentation/v0.5/isanet/isanet_r101-d8_512x1024_80k_cityscapes/isanet_r101-d8_512x1024_80k_cityscapes_20210901_145243-5b99c9b2.pth',  # noqa: E501
    taps={{_base_.bpkd_taps}},
    losses={{_base_.bpkd_losses}})
