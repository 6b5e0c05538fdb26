# The teacher of the FPN distillation speed benchmark: Faster R-CNN R50-FPN.
_base_ = ['./faster-rcnn_r18_fpn_digit-scenes-512.py']

model = dict(
    backbone=dict(depth=50), neck=dict(in_channels=[256, 512, 1024, 2048]))
