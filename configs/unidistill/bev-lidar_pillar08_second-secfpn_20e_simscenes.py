# LiDAR BEV detector on SimScenes: 0.8 m pillars of 10 sweeps, SECOND + FPN,
# CenterHead. The LiDAR teacher of the camera student and the LiDAR baseline.
_base_ = [
    'mmdet3d::_base_/default_runtime.py',
    '../_base_/models/bev-centerhead_simscenes.py',
    '../_base_/schedules/unidistill_adamw.py'
]
model = dict(
    img_backbone=None, img_neck=None, view_transform=None, fusion_layer=None)
