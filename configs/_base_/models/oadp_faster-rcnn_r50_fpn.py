# OADP's DP student on mmdet's Faster R-CNN R50-FPN (OV-COCO).
_base_ = ['mmdet::_base_/models/faster-rcnn_r50_fpn.py', 'oadp_dp.py']
model = {{_base_.oadp_model}}
