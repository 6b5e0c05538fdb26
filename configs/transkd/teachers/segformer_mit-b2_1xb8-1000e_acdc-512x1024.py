# TransKD's ACDC teacher under TransKD's protocol (official
# train/train_teacher.py `--dataset ACDC`): MiT-B2 from ImageNet weights,
# as the Cityscapes one, on the four conditions of ACDC.
# Paper / official README: 69.34 mIoU (1/4-res protocol). Note: the
# official distillation scripts load `segformerb2_teacher_cityscapes.pth`
# for ACDC as well (train/train_TransKD*.py, `teacher_path`), i.e. the
# Cityscapes teacher.
_base_ = [
    '../../_base_/models/segformer_mit-b0_transkd.py',
    '../../_base_/datasets/acdc-512x1024_transkd.py',
    '../../_base_/schedules/transkd_1000e.py',
    'mmseg::_base_/default_runtime.py'
]
checkpoint = 'https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/segformer/mit_b2_20220624-66e8bf70.pth'  # noqa: E501
model = dict(
    backbone=dict(
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint),
        embed_dims=64,
        num_layers=[3, 4, 6, 3]),
    decode_head=dict(in_channels=[64, 128, 320, 512], channels=768))
train_dataloader = dict(batch_size=8)
