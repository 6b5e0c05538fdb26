# LiDAR BEV detector in UniDistill's nuScenes setting: 0.075 m voxels of 10
# sweeps, sparse 3D encoder, SECOND + FPN, CenterHead; lr 1e-3.
_base_ = [
    'mmdet3d::_base_/default_runtime.py',
    '../_base_/models/bev-centerhead_nus.py',
    '../_base_/schedules/unidistill_adamw.py'
]
model = dict(
    img_backbone=None, img_neck=None, view_transform=None, fusion_layer=None)
