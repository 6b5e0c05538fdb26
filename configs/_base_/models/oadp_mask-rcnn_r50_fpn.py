# OADP's DP student on mmdet's Mask R-CNN R50-FPN (OV-LVIS).
_base_ = ['mmdet::_base_/models/mask-rcnn_r50_fpn.py', 'oadp_dp.py']
model = {{_base_.oadp_model}}
