# X-Ray's baseline student on SimScenes: the CenterPoint-pillar of
# configs/sim_scenes (0.4 m pillars, a narrow SECOND, no GT-sampling, no
# CBGS) on the normal frames, unchanged; its training pipeline is written
# out in the parts the X-Ray teacher and student reuse.
#   python tools/dataset_converters/sim_scenes.py data/simscenes
_base_ = [
    '../sim_scenes/'
    'centerpoint_pillar04-small_second_secfpn_20e_simscenes-3d.py'
]

point_cloud_range = [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]
class_names = [
    'car', 'truck', 'construction_vehicle', 'bus', 'trailer', 'barrier',
    'motorcycle', 'bicycle', 'pedestrian', 'traffic_cone'
]
# the keyframe and 9 sweeps
load_points = [
    dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5,
         use_dim=5),
    dict(type='LoadPointsFromMultiSweeps', sweeps_num=9,
         use_dim=[0, 1, 2, 3, 4], pad_empty_sweeps=True, remove_close=True),
]
# the random BEV augmentation (and the range filter after it): X-Ray draws
# it once for both clouds
augment = [
    dict(type='GlobalRotScaleTrans', rot_range=[-0.3925, 0.3925],
         scale_ratio_range=[0.95, 1.05], translation_std=[0, 0, 0]),
    dict(type='RandomFlip3D', sync_2d=False, flip_ratio_bev_horizontal=0.5,
         flip_ratio_bev_vertical=0.5),
    dict(type='PointsRangeFilter', point_cloud_range=point_cloud_range),
]
filter_objects = [
    dict(type='ObjectRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectNameFilter', classes=class_names),
]
pack = dict(type='Pack3DDetInputs',
            keys=['points', 'gt_bboxes_3d', 'gt_labels_3d'])
train_pipeline = load_points + [
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True)
] + augment + filter_objects + [dict(type='PointShuffle'), pack]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
