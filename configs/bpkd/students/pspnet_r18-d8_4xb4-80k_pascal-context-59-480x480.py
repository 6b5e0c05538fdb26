# PSPNet-R18 on Pascal Context-59: BPKD's student. mmseg 1.x has no config for
# it: mmseg's R50 config with its ResNet-18 overrides (as pspnet_r18-d8 on
# Cityscapes).
_base_ = 'mmseg::pspnet/pspnet_r50-d8_4xb4-80k_pascal-context-59-480x480.py'
model = dict(
    pretrained='open-mmlab://resnet18_v1c',
    backbone=dict(depth=18),
    decode_head=dict(in_channels=512, channels=128),
    auxiliary_head=dict(in_channels=256, channels=64))
