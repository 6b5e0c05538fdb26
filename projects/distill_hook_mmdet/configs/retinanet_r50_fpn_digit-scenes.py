# The DigitScenes detection teacher: RetinaNet-R50.
_base_ = ['./retinanet_r18_fpn_digit-scenes.py']

model = dict(
    backbone=dict(depth=50), neck=dict(in_channels=[256, 512, 1024, 2048]))
