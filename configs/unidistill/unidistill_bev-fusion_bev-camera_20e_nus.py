# UniDistill on nuScenes (the paper's setting): a camera student from
# a fusion teacher, with this path's official weights:
# feature 10, relation 5, response 10.
# Train the teacher first (tools/train.py on the teacher config below).
_base_ = ['./unidistill_bev-lidar_bev-camera_20e_nus.py']

model = dict(
    teacher=dict(cfg_path='{{fileDirname}}/'
                 'bev-fusion_r50-lss_voxel0075_second-secfpn_20e_nus.py'),
    teacher_ckpt='work_dirs/'
    'bev-fusion_r50-lss_voxel0075_second-secfpn_20e_nus/epoch_20.pth',
    taps=dict(teacher={{_base_.fusion_taps}}),
    losses=dict(
        feature=dict(loss_weight=10.0),
        relation=dict(loss_weight=5.0),
        response=dict(loss_weight=10.0)))
