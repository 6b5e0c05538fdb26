# mmkd.BEVDetector on SimScenes, sized for CPU: one 0.8 m BEV grid (128 x 128
# on +-51.2 m) for the LiDAR pillars, the camera LSS and the fused map (64
# channels each), a SECOND backbone + FPN (128 channels) and a CenterHead
# with nuScenes' six tasks on 1.6 m cells (64 x 64; its convs at 128 x 128
# took 5 s a step on 2 cores). This file holds both branches and the fuser;
# the LiDAR and camera configs set the other branch to None.
_base_ = ['../datasets/simscenes_bev.py']
# the dataset's range, written out: it is sliced below (pc_range)
point_cloud_range = [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]
voxel_size = [0.8, 0.8, 8.0]
bev_channels = 64
image_size = {{_base_.image_size}}
norm_cfg = dict(type='BN', eps=1e-3, momentum=0.01)
model = dict(
    type='mmkd.BEVDetector',
    data_preprocessor=dict(
        type='Det3DDataPreprocessor',
        voxel=True,
        voxel_layer=dict(
            max_num_points=32,
            voxel_size=voxel_size,
            max_voxels=(16384, 16384),
            point_cloud_range=point_cloud_range),
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    pts_voxel_encoder=dict(
        type='PillarFeatureNet',
        in_channels=5,
        feat_channels=[bev_channels],
        with_distance=False,
        voxel_size=voxel_size,
        point_cloud_range=point_cloud_range,
        norm_cfg=dict(type='BN1d', eps=1e-3, momentum=0.01),
        legacy=False),
    pts_middle_encoder=dict(
        type='PointPillarsScatter',
        in_channels=bev_channels,
        output_shape=(128, 128)),
    img_backbone=dict(
        type='mmdet.ResNet',
        depth=18,
        base_channels=32,
        num_stages=4,
        out_indices=(1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        style='pytorch'),
    img_neck=dict(
        type='SECONDFPN',
        in_channels=[64, 128, 256],
        out_channels=[32, 32, 32],
        upsample_strides=[0.5, 1, 2],
        norm_cfg=norm_cfg,
        upsample_cfg=dict(type='deconv', bias=False),
        use_conv_for_no_stride=True),
    view_transform=dict(
        type='mmkd.LSSViewTransform',
        in_channels=96,
        out_channels=bev_channels,
        image_size=image_size,
        feature_stride=16,
        depth_bound=(2.0, 58.0, 1.0),
        point_cloud_range=point_cloud_range,
        bev_cell_size=voxel_size[:2]),
    fusion_layer=dict(
        type='mmkd.ConvFuser',
        in_channels=[bev_channels, bev_channels],
        out_channels=bev_channels),
    pts_backbone=dict(
        type='SECOND',
        in_channels=bev_channels,
        out_channels=[64, 128],
        layer_nums=[3, 3],
        layer_strides=[2, 2],
        norm_cfg=norm_cfg,
        conv_cfg=dict(type='Conv2d', bias=False)),
    pts_neck=dict(
        type='SECONDFPN',
        in_channels=[64, 128],
        out_channels=[64, 64],
        upsample_strides=[1, 2],
        norm_cfg=norm_cfg,
        upsample_cfg=dict(type='deconv', bias=False),
        use_conv_for_no_stride=True),
    bbox_head=dict(
        type='CenterHead',
        in_channels=128,
        tasks=[
            dict(num_class=1, class_names=['car']),
            dict(num_class=2, class_names=['truck', 'construction_vehicle']),
            dict(num_class=2, class_names=['bus', 'trailer']),
            dict(num_class=1, class_names=['barrier']),
            dict(num_class=2, class_names=['motorcycle', 'bicycle']),
            dict(num_class=2, class_names=['pedestrian', 'traffic_cone']),
        ],
        common_heads=dict(
            reg=(2, 2), height=(1, 2), dim=(3, 2), rot=(2, 2), vel=(2, 2)),
        share_conv_channel=64,
        bbox_coder=dict(
            type='CenterPointBBoxCoder',
            post_center_range=[-61.2, -61.2, -10.0, 61.2, 61.2, 10.0],
            max_num=500,
            score_threshold=0.1,
            out_size_factor=2,
            voxel_size=voxel_size[:2],
            pc_range=point_cloud_range[:2],
            code_size=9),
        separate_head=dict(
            type='SeparateHead', init_bias=-2.19, final_kernel=3),
        loss_cls=dict(type='mmdet.GaussianFocalLoss', reduction='mean'),
        loss_bbox=dict(
            type='mmdet.L1Loss', reduction='mean', loss_weight=0.25),
        norm_bbox=True,
        train_cfg=dict(
            grid_size=[128, 128, 1],
            voxel_size=voxel_size,
            out_size_factor=2,
            dense_reg=1,
            gaussian_overlap=0.1,
            max_objs=500,
            min_radius=2,
            code_weights=[1.0] * 8 + [0.2, 0.2],
            point_cloud_range=point_cloud_range),
        test_cfg=dict(
            post_center_limit_range=[-61.2, -61.2, -10.0, 61.2, 61.2, 10.0],
            max_per_img=500,
            max_pool_nms=False,
            min_radius=[4, 12, 10, 1, 0.85, 0.175],
            score_threshold=0.1,
            pc_range=point_cloud_range[:2],
            out_size_factor=2,
            voxel_size=voxel_size[:2],
            nms_type='rotate',
            pre_max_size=1000,
            post_max_size=83,
            nms_thr=0.2)))
