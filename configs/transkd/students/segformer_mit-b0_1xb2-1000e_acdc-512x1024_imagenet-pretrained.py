# The ACDC student with mmseg's MiT-B0 ImageNet weights (official issue
# #2); images unnormalised, as in the official code.
_base_ = './segformer_mit-b0_1xb2-1000e_acdc-512x1024.py'
checkpoint = 'https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/segformer/mit_b0_20220624-7e0fe6dd.pth'  # noqa: E501
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=checkpoint)))
