# UniDistill on SimScenes: a LiDAR student from a fusion teacher,
# with this path's official weights: feature 10, relation 1, response 10.
# Train the teacher first (tools/train.py on the teacher config below).
_base_ = ['./unidistill_bev-camera_bev-lidar_20e_simscenes.py']

model = dict(
    teacher=dict(cfg_path='{{fileDirname}}/'
                 'bev-fusion_r18-lss_pillar08_second-secfpn_20e_simscenes.py'),
    teacher_ckpt='work_dirs/'
    'bev-fusion_r18-lss_pillar08_second-secfpn_20e_simscenes/epoch_20.pth',
    taps=dict(teacher={{_base_.fusion_taps}}),
    losses=dict(
        feature=dict(loss_weight=10.0),
        relation=dict(loss_weight=1.0),
        response=dict(loss_weight=10.0)))
