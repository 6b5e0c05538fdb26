# The teacher of the 256 px DigitScenes setting: FCN on a ResNetV1c-50 of
# width 16 (2.1 M parameters, 2.7x the student's: deeper, with 4x the
# channels in its last stages, as PSPNet-R101 is to R18 in the BPKD paper),
# with the student's recipe.
_base_ = ['./fcn_r18-w16_2k_digit-scenes256-128x128.py']
model = dict(
    backbone=dict(depth=50, stem_channels=32, base_channels=16),
    decode_head=dict(in_channels=512, channels=128))
