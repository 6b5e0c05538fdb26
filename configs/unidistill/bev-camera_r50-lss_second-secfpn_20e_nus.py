# Camera BEV detector in UniDistill's nuScenes setting: six 256 x 704 views,
# ResNet-50 (ImageNet) + FPN, lift-splat-shoot to the 0.6 m grid, SECOND +
# FPN, CenterHead; lr 2e-4 (the official camera lr).
_base_ = [
    'mmdet3d::_base_/default_runtime.py',
    '../_base_/models/bev-centerhead_nus.py',
    '../_base_/schedules/unidistill_adamw.py'
]
model = dict(
    data_preprocessor=dict(voxel=False),
    pts_voxel_encoder=None,
    pts_middle_encoder=None,
    fusion_layer=None)
optim_wrapper = dict(optimizer=dict(lr=2e-4))
