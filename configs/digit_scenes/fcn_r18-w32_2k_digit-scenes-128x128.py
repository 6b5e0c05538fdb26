# The DigitScenes teacher: FCN on a ResNetV1c-18 of width 32.
_base_ = [
    '../_base_/models/fcn_r18_digit_scenes.py',
    '../_base_/datasets/digit_scenes.py',
    '../_base_/schedules/digit_scenes_2k.py',
    'mmseg::_base_/default_runtime.py'
]
model = dict(
    backbone=dict(stem_channels=32, base_channels=32),
    decode_head=dict(in_channels=256, channels=128))
