# UniDistill on nuScenes (the paper's setting): a LiDAR student from
# a camera teacher, with this path's official weights:
# feature 10, relation 5, response 1.
# Train the teacher first (tools/train.py on the teacher config below).
# The LiDAR <- camera path of the camera <- LiDAR config: the same data,
# schedule and losses; student and teacher swapped, its own weights.
_base_ = ['./unidistill_bev-lidar_bev-camera_20e_nus.py']

model = dict(
    student=dict(
        _delete_=True,
        cfg_path='{{fileDirname}}/'
        'bev-lidar_voxel0075_second-secfpn_20e_nus.py'),
    teacher=dict(cfg_path='{{fileDirname}}/'
                 'bev-camera_r50-lss_second-secfpn_20e_nus.py'),
    teacher_ckpt='work_dirs/'
    'bev-camera_r50-lss_second-secfpn_20e_nus/epoch_20.pth',
    taps=dict(
        student={{_base_.lidar_taps}},
        teacher={{_base_.camera_taps}}),
    losses=dict(
        feature=dict(loss_weight=10.0),
        relation=dict(loss_weight=5.0),
        response=dict(loss_weight=1.0)))
# the official LiDAR lr (the base's is the camera's)
optim_wrapper = dict(optimizer=dict(lr=1e-3))
