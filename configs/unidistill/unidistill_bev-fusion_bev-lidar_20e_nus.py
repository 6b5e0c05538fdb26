# UniDistill on nuScenes (the paper's setting): a LiDAR student from
# a fusion teacher, with this path's official weights:
# feature 10, relation 1, response 10.
# Train the teacher first (tools/train.py on the teacher config below).
_base_ = [
    './bev-lidar_voxel0075_second-secfpn_20e_nus.py',
    '../_base_/distill/unidistill_bev.py'
]

model = dict(
    _delete_=True,
    type='mmkd.DistillModel',
    student={{_base_.model}},
    teacher=dict(cfg_path='{{fileDirname}}/'
                 'bev-fusion_r50-lss_voxel0075_second-secfpn_20e_nus.py'),
    teacher_ckpt='work_dirs/'
    'bev-fusion_r50-lss_voxel0075_second-secfpn_20e_nus/epoch_20.pth',
    taps=dict(
        student={{_base_.lidar_taps}},
        teacher={{_base_.fusion_taps}}),
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
            loss_weight=1.0,
            student='neck',
            teacher='neck'),
        response=dict(
            type='mmkd.BEVResponseLoss',
            point_cloud_range={{_base_.point_cloud_range}},
            loss_weight=10.0,
            student='head',
            teacher='head')))
