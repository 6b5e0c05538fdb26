# Camera + LiDAR BEV detector in UniDistill's nuScenes setting: the two
# branches fused by concatenation, channel attention and a 3x3 conv; lr 1e-3.
_base_ = [
    'mmdet3d::_base_/default_runtime.py',
    '../_base_/models/bev-centerhead_nus.py',
    '../_base_/schedules/unidistill_adamw.py'
]
