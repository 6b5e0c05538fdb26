# nuScenes for BEV detectors of any modality, UniDistill's setting: 10 LiDAR
# sweeps, six 256 x 704 key-frame images (resize 0.386-0.55 of 900 x 1600,
# rotation +-5.4 deg, flip), class-balanced grouping and sampling (CBGS), no
# ground-truth sampling. Not implemented here: UniDistill's BEV
# augmentation (rotation +-45 deg, scale 0.9-1.1, flips), which would have to
# move the camera extrinsics with the point cloud.
point_cloud_range = [-54.0, -54.0, -5.0, 54.0, 54.0, 3.0]
image_size = (256, 704)
class_names = [
    'car', 'truck', 'construction_vehicle', 'bus', 'trailer', 'barrier',
    'motorcycle', 'bicycle', 'pedestrian', 'traffic_cone'
]
metainfo = dict(classes=class_names)
dataset_type = 'NuScenesDataset'
data_root = 'data/nuscenes/'
cameras = [
    'CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK',
    'CAM_BACK_LEFT', 'CAM_BACK_RIGHT'
]
data_prefix = dict(
    pts='samples/LIDAR_TOP',
    sweeps='sweeps/LIDAR_TOP',
    **{cam: f'samples/{cam}'
       for cam in cameras})
modality = dict(use_lidar=True, use_camera=True)

load_sensors = [
    dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5,
         use_dim=5),
    dict(type='LoadPointsFromMultiSweeps', sweeps_num=9,
         use_dim=[0, 1, 2, 3, 4], pad_empty_sweeps=True, remove_close=True),
    dict(type='LoadMultiViewImageFromFiles', to_float32=True, num_views=6),
]
train_pipeline = load_sensors + [
    dict(type='mmkd.MultiViewImageResizeCrop', final_size=image_size,
         resize_range=(0.386, 0.55), rotate_range=(-5.4, 5.4),
         flip_prob=0.5),
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True),
    dict(type='PointsRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectNameFilter', classes=class_names),
    dict(type='PointShuffle'),
    dict(type='Pack3DDetInputs',
         keys=['points', 'img', 'gt_bboxes_3d', 'gt_labels_3d'])
]
test_pipeline = load_sensors + [
    dict(type='mmkd.MultiViewImageResizeCrop', final_size=image_size,
         test_mode=True),
    dict(type='PointsRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='Pack3DDetInputs', keys=['points', 'img'])
]
train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='CBGSDataset',
        dataset=dict(
            type=dataset_type,
            data_root=data_root,
            ann_file='nuscenes_infos_train.pkl',
            pipeline=train_pipeline,
            metainfo=metainfo,
            modality=modality,
            data_prefix=data_prefix,
            test_mode=False,
            use_valid_flag=True,
            box_type_3d='LiDAR')))
val_dataloader = dict(
    batch_size=1,
    num_workers=1,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='nuscenes_infos_val.pkl',
        pipeline=test_pipeline,
        metainfo=metainfo,
        modality=modality,
        data_prefix=data_prefix,
        test_mode=True,
        box_type_3d='LiDAR'))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='NuScenesMetric',
    data_root=data_root,
    ann_file=data_root + 'nuscenes_infos_val.pkl',
    metric='bbox')
test_evaluator = val_evaluator
