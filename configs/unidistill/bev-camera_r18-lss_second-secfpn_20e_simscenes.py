# Camera BEV detector on SimScenes: six 128 x 352 views, a half-width
# ResNet-18 (random init) + FPN at stride 16, lift-splat-shoot on 56 depth
# bins (2-58 m) to the 0.8 m grid, SECOND + FPN, CenterHead. The official
# camera lr is 2e-4 with an ImageNet backbone; from scratch on CPU it uses the
# LiDAR lr, 1e-3.
_base_ = [
    'mmdet3d::_base_/default_runtime.py',
    '../_base_/models/bev-centerhead_simscenes.py',
    '../_base_/schedules/unidistill_adamw.py'
]
model = dict(
    data_preprocessor=dict(voxel=False),
    pts_voxel_encoder=None,
    pts_middle_encoder=None,
    fusion_layer=None)
