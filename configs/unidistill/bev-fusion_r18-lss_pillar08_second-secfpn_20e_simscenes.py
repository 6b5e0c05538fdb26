# Camera + LiDAR BEV detector on SimScenes: both branches of the camera and
# LiDAR configs fused by concatenation + 3x3 conv (mmkd.ConvFuser).
_base_ = [
    'mmdet3d::_base_/default_runtime.py',
    '../_base_/models/bev-centerhead_simscenes.py',
    '../_base_/schedules/unidistill_adamw.py'
]
