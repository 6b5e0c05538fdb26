# The TransKD student with ImageNet weights (official issue #2; the
# official scripts' `--student-pretrained True`): mmseg's MiT-B0 ImageNet
# checkpoint loaded into the backbone. As in the official code, the
# images stay unnormalised although these weights were trained on
# mean/std-normalised ones.
_base_ = './segformer_mit-b0_1xb2-1000e_cityscapes-512x1024.py'
checkpoint = 'https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/segformer/mit_b0_20220624-7e0fe6dd.pth'  # noqa: E501
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=checkpoint)))
