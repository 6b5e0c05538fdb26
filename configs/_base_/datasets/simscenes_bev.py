# SimScenes (tools/dataset_converters/sim_scenes.py) for BEV detectors of any
# modality: every sample loads the LiDAR sweeps and the six camera images, so
# one pipeline serves LiDAR, camera and fusion models and their distillation.
# No BEV augmentation: a rotated point cloud would no longer match the
# images; the images get the BEVDepth-style resize/crop/flip/rotation.
point_cloud_range = [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]
image_size = (128, 352)
class_names = [
    'car', 'truck', 'construction_vehicle', 'bus', 'trailer', 'barrier',
    'motorcycle', 'bicycle', 'pedestrian', 'traffic_cone'
]
# v1.0-mini: NuScenesMetric evaluates the mini_val scene names
metainfo = dict(classes=class_names, version='v1.0-mini')
dataset_type = 'NuScenesDataset'
data_root = 'data/simscenes/'
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
    # SimScenes images are 400 x 225: 0.88 fits them to 352 wide
    dict(type='mmkd.MultiViewImageResizeCrop', final_size=image_size,
         resize_range=(0.77, 1.1), rotate_range=(-5.4, 5.4), flip_prob=0.5),
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True),
    dict(type='PointsRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectNameFilter', classes=class_names),
    dict(type='PointShuffle'),
    dict(type='Pack3DDetInputs',
         keys=['points', 'img', 'gt_bboxes_3d', 'gt_labels_3d'])
]
# at test the nearest 9 of a keyframe's 10 sweeps (test_mode=True), not 9
# drawn at random, so that a checkpoint's score does not vary from test
# to test
test_pipeline = [
    dict(t, test_mode=True) if t['type'] == 'LoadPointsFromMultiSweeps' else t
    for t in load_sensors
] + [
    dict(type='mmkd.MultiViewImageResizeCrop', final_size=image_size,
         test_mode=True),
    dict(type='PointsRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='Pack3DDetInputs', keys=['points', 'img'])
]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='simscenes_infos_train.pkl',
        pipeline=train_pipeline,
        metainfo=metainfo,
        modality=modality,
        data_prefix=data_prefix,
        test_mode=False,
        use_valid_flag=True,
        box_type_3d='LiDAR'))
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='simscenes_infos_val.pkl',
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
    ann_file=data_root + 'simscenes_infos_val.pkl',
    metric='bbox')
test_evaluator = val_evaluator
