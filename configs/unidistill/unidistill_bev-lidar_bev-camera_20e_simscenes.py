# UniDistill on SimScenes: a camera student from a LiDAR teacher, with
# this path's official relation and response weights (40, 10) and feature
# weight 10, not 100: the camera cannot copy the single-layer pillar map
# here, and at 100 the feature loss stayed ten times the detection losses
# and the student ended worse than the camera alone (the official weights
# on nuScenes; measurements in docs/methods/unidistill.md).
# Train the teacher first (tools/train.py on the teacher config below).
_base_ = [
    './bev-camera_r18-lss_second-secfpn_20e_simscenes.py',
    '../_base_/distill/unidistill_bev.py'
]

model = dict(
    _delete_=True,
    type='mmkd.DistillModel',
    student={{_base_.model}},
    teacher=dict(cfg_path='{{fileDirname}}/'
                 'bev-lidar_pillar08_second-secfpn_20e_simscenes.py'),
    teacher_ckpt='work_dirs/'
    'bev-lidar_pillar08_second-secfpn_20e_simscenes/epoch_20.pth',
    taps=dict(
        student={{_base_.camera_taps}},
        teacher={{_base_.lidar_taps}}),
    losses=dict(
        feature=dict(
            type='mmkd.BEVKeypointFeatureLoss',
            point_cloud_range={{_base_.point_cloud_range}},
            loss_weight=10.0,
            student='bev',
            teacher='bev'),
        relation=dict(
            type='mmkd.BEVKeypointRelationLoss',
            point_cloud_range={{_base_.point_cloud_range}},
            loss_weight=40.0,
            student='neck',
            teacher='neck'),
        response=dict(
            type='mmkd.BEVResponseLoss',
            point_cloud_range={{_base_.point_cloud_range}},
            loss_weight=10.0,
            student='head',
            teacher='head')))
