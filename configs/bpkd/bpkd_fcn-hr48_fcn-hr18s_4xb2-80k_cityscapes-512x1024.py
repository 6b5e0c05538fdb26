# BPKD: HRNetV2p-W48 (160k, 80.65 mIoU: the paper's teacher) into HRNetV2p-W18-Small
# on Cityscapes; paper: 75.31 -> 78.58.
_base_ = [
    'mmseg::hrnet/fcn_hr18s_4xb2-80k_cityscapes-512x1024.py',
    '../_base_/distill/bpkd_decode-logits.py'
]

model = dict(
    _delete_=True,
    type='mmkd.DistillModel',
    student={{_base_.model}},
    teacher=dict(
        cfg_path='mmseg::hrnet/fcn_hr48_4xb2-160k_cityscapes-512x1024.py'),
    teacher_ckpt='https://download.openmmlab.com/mmsegmentation/v0.5/hrnet/fcn_hr48_512x1024_160k_cityscapes/fcn_hr48_512x1024_160k_cityscapes_20200602_190946-59b7973e.pth',  # noqa: E501
    taps={{_base_.bpkd_taps}},
    losses={{_base_.bpkd_losses}})
