# The MiT teacher of the TransKD DigitScenes setting: a SegFormer whose
# MiT is B0-wide (stages 32-64-160-256, head 128) with depths 2-2-2-2,
# twice the student's width (segformer_mit-b0w16_*, as MiT-B2 is to B0 in
# the paper), with the student's recipe; whole 256 px canvases, so stage 4
# is 8x8.
_base_ = ['./segformer_mit-b0w16_2k_digit-scenes256.py']
model = dict(
    backbone=dict(embed_dims=32),
    decode_head=dict(in_channels=[32, 64, 160, 256], channels=128))
