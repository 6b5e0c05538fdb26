# OADP's DP student on the DigitScenes Faster R-CNN R18-FPN (from scratch).
_base_ = ['faster-rcnn_r18_fpn_digit_scenes.py', 'oadp_dp.py']
model = {{_base_.oadp_model}}
