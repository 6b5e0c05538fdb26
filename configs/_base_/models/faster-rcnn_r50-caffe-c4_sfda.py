# The detector of LPLD's experiments (official configs/sfda/*.yaml): Faster
# R-CNN C4 on a caffe-style ResNet-50 (detectron2's ImageNet weights), res4
# features, res5 RoI head, anchors 128/256/512, 300 test-time proposals.
_base_ = ['mmdet::_base_/models/faster-rcnn_r50-caffe-c4.py']

model = dict(
    rpn_head=dict(anchor_generator=dict(scales=[8, 16, 32])),
    test_cfg=dict(rpn=dict(max_per_img=300)))
