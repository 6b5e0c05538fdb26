# Faster R-CNN on a half-width ResNet-18 FPN sized for 128x128 DigitScenes
# canvases (digits 20-48 px) and CPU training: 64-channel FPN, anchors from
# 16 px, 128 sampled RoIs per image, a 256-d box head, 10 digit classes.
# Trained from scratch (no model zoo here).
_base_ = ['mmdet::_base_/models/faster-rcnn_r50_fpn.py']

model = dict(
    backbone=dict(
        depth=18, base_channels=32, norm_eval=False, init_cfg=None),
    neck=dict(in_channels=[32, 64, 128, 256], out_channels=64),
    rpn_head=dict(
        in_channels=64,
        feat_channels=64,
        anchor_generator=dict(scales=[4])),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=64),
        bbox_head=dict(in_channels=64, fc_out_channels=256, num_classes=10)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=500),
        rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(rpn=dict(nms_pre=1000, max_per_img=300)))
