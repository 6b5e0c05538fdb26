# CenterPoint-pillar on SimScenes (mmkd's generated nuScenes-format data),
# sized for CPU training: 0.4 m pillars (256 x 256 grid), a narrow SECOND,
# no ground-truth sampling database, no CBGS. Generate the data first:
#   python tools/dataset_converters/sim_scenes.py data/simscenes
_base_ = [
    'mmdet3d::centerpoint/'
    'centerpoint_pillar02_second_secfpn_8xb4-cyclic-20e_nus-3d.py'
]

point_cloud_range = [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]
voxel_size = [0.4, 0.4, 8]
class_names = [
    'car', 'truck', 'construction_vehicle', 'bus', 'trailer', 'barrier',
    'motorcycle', 'bicycle', 'pedestrian', 'traffic_cone'
]
# v1.0-mini: NuScenesMetric evaluates the mini_val scene names
metainfo = dict(classes=class_names, version='v1.0-mini')
data_root = 'data/simscenes/'
data_prefix = dict(pts='samples/LIDAR_TOP', img='', sweeps='sweeps/LIDAR_TOP')
model = dict(
    data_preprocessor=dict(
        voxel_layer=dict(voxel_size=voxel_size, max_voxels=(16000, 20000))),
    pts_voxel_encoder=dict(feat_channels=[32], voxel_size=voxel_size),
    pts_middle_encoder=dict(in_channels=32, output_shape=(256, 256)),
    pts_backbone=dict(
        in_channels=32, out_channels=[32, 64, 128], layer_nums=[1, 2, 2]),
    pts_neck=dict(in_channels=[32, 64, 128], out_channels=[64, 64, 64]),
    pts_bbox_head=dict(
        in_channels=192,
        share_conv_channel=32,
        bbox_coder=dict(voxel_size=voxel_size[:2])),
    train_cfg=dict(pts=dict(grid_size=[256, 256, 1], voxel_size=voxel_size)),
    test_cfg=dict(pts=dict(voxel_size=voxel_size[:2])))

train_pipeline = [
    dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5,
         use_dim=5),
    dict(type='LoadPointsFromMultiSweeps', sweeps_num=9,
         use_dim=[0, 1, 2, 3, 4], pad_empty_sweeps=True, remove_close=True),
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True),
    dict(type='GlobalRotScaleTrans', rot_range=[-0.3925, 0.3925],
         scale_ratio_range=[0.95, 1.05], translation_std=[0, 0, 0]),
    dict(type='RandomFlip3D', sync_2d=False, flip_ratio_bev_horizontal=0.5,
         flip_ratio_bev_vertical=0.5),
    dict(type='PointsRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectNameFilter', classes=class_names),
    dict(type='PointShuffle'),
    dict(type='Pack3DDetInputs',
         keys=['points', 'gt_bboxes_3d', 'gt_labels_3d'])
]
train_dataloader = dict(
    _delete_=True,
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='NuScenesDataset',
        data_root=data_root,
        ann_file='simscenes_infos_train.pkl',
        pipeline=train_pipeline,
        metainfo=metainfo,
        test_mode=False,
        data_prefix=data_prefix,
        use_valid_flag=True,
        box_type_3d='LiDAR'))
# mmdet3d's test pipeline with the sweeps chosen deterministically (the
# nearest 9 of a keyframe's 10): mmdet3d's nuScenes CenterPoint configs
# leave LoadPointsFromMultiSweeps' test_mode off, which draws 9 at random
# in every test, so two tests of one checkpoint differed by 0.3 mAP on
# SimScenes val (its 40 frames)
test_pipeline = [
    dict(t, test_mode=True) if t.type == 'LoadPointsFromMultiSweeps' else t
    for t in _base_.test_pipeline
]
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        ann_file='simscenes_infos_val.pkl',
        metainfo=metainfo,
        data_prefix=data_prefix,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    data_root=data_root, ann_file=data_root + 'simscenes_infos_val.pkl')
test_evaluator = val_evaluator
train_cfg = dict(max_epochs=20, val_interval=5)
# a checkpoint every 5 epochs (mmdet3d's runtime saves the last only), the
# latest kept: a killed run resumes (tools/train.py --resume)
default_hooks = dict(checkpoint=dict(interval=5, max_keep_ckpts=1))
