# X-Ray on nuScenes: mmdet3d's CenterPoint (0.2 m pillars) on
# the normal frames learns from the same detector trained on the
# Object-Complete frames (BEV neck features, heat-maps, regression maps
# in the boxes); the pipeline is mmdet3d's without GT-sampling, with the
# teacher's cloud loaded, augmented and packed beside the student's (see
# the SimScenes config). Train the teacher first:
#   configs/xray/centerpoint_pillar02_second-secfpn_head-circlenms_20e_nus-oc.py
_base_ = [
    './centerpoint_pillar02_second-secfpn_head-circlenms_20e_nus.py',
    '../_base_/distill/xray_centerpoint.py'
]

views = dict(points='teacher_points')
shared = ('GlobalRotScaleTrans', 'RandomFlip3D', 'PointsRangeFilter')
train_pipeline = [
    dict(
        type='mmkd.LoadTeacherPoints',
        transforms=[
            t for t in _base_.train_pipeline if t['type'] in
            ('LoadPointsFromFile', 'LoadPointsFromMultiSweeps')
        ]),
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True),
    dict(
        type='mmkd.SharedAugment',
        views=views,
        transforms=[t for t in _base_.train_pipeline if t['type'] in shared]),
    dict(type='ObjectRangeFilter',
         point_cloud_range=_base_.point_cloud_range),
    dict(type='ObjectNameFilter', classes=_base_.class_names),
    dict(type='PointShuffle'),
    dict(type='KeyMapper', mapping=dict(points='teacher_points'),
         transforms=[dict(type='PointShuffle')]),
    dict(
        type='mmkd.PackTeacherView',
        views=views,
        pack=dict(type='Pack3DDetInputs',
                  keys=['points', 'gt_bboxes_3d', 'gt_labels_3d'])),
]
train_dataloader = dict(
    dataset=dict(
        dataset=dict(
            ann_file='nuscenes_infos_train_xray-student.pkl',
            pipeline=train_pipeline)))

model = dict(
    _delete_=True,
    type='mmkd.DistillModel',
    student=_base_.model,
    teacher=dict(
        cfg_path='{{fileDirname}}/'
        'centerpoint_pillar02_second-secfpn_head-circlenms_20e_nus-oc.py'),
    teacher_ckpt='work_dirs/'
    'centerpoint_pillar02_second-secfpn_head-circlenms_20e_nus-oc/'
    'epoch_20.pth',
    teacher_view=True,
    # mmdet3d's CenterPoint has no tensor mode
    teacher_mode='loss',
    taps=dict(student=_base_.xray_taps, teacher=_base_.xray_taps),
    losses=dict(
        feature=_base_.xray_losses.feature,
        heatmap=_base_.xray_losses.heatmap,
        regression=dict(
            _base_.xray_losses.regression,
            mask=dict(
                type='BEVBoxFootprintMask',
                point_cloud_range=_base_.point_cloud_range),
            mask_average=True)))
custom_imports = dict(imports=['mmkd'], allow_failed_imports=False)
custom_hooks = [dict(type='mmkd.XRayInfosCheckHook', role='student')]
