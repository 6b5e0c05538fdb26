# TransKD's teacher trained under TransKD's protocol (official
# train/train_teacher.py): SegFormer MiT-B2 from mmseg's ImageNet
# checkpoint (always loaded there), head 768 wide (the official B2's
# decoder; mmseg's B2 configs keep 256), batch 8 (that script's default),
# otherwise the students' protocol: whole 512x1024 images, no
# normalisation, ERFNet-weighted CE on the stride-4 logits, AdamW 6e-5,
# 1000 of 1500 poly epochs, mIoU at a quarter of the input.
# Paper / official README: 76.49 mIoU (1/4-res protocol).
_base_ = [
    '../../_base_/models/segformer_mit-b0_transkd.py',
    '../../_base_/datasets/cityscapes-512x1024_transkd.py',
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
