# X-Ray on SimScenes: the CenterPoint-pillar student on the normal frames
# learns from the same detector trained on the Object-Complete frames
# (BEV neck features, heat-maps, regression maps in the boxes). Each sample
# loads both clouds (mmkd.LoadTeacherPoints: the patched keyframe with the
# student's sweeps), augments them with one draw (mmkd.SharedAugment) and
# packs the teacher's for its preprocessor (mmkd.PackTeacherView).
# GT-sampling is off, as in the baseline. Train the teacher first:
#   python tools/train.py \
#       configs/xray/centerpoint_pillar04-small_second-secfpn_20e_simscenes-oc.py
_base_ = [
    './centerpoint_pillar04-small_second-secfpn_20e_simscenes.py',
    '../_base_/distill/xray_centerpoint.py'
]

views = dict(points='teacher_points')
train_pipeline = [
    dict(type='mmkd.LoadTeacherPoints', transforms=_base_.load_points),
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True),
    dict(type='mmkd.SharedAugment', views=views, transforms=_base_.augment),
    *_base_.filter_objects,
    dict(type='PointShuffle'),
    # the completed objects' points come last in the patched files: shuffle
    # them too, or full pillars would keep the keyframe's points only
    dict(type='KeyMapper', mapping=dict(points='teacher_points'),
         transforms=[dict(type='PointShuffle')]),
    dict(type='mmkd.PackTeacherView', views=views, pack=_base_.pack),
]
train_dataloader = dict(
    dataset=dict(
        ann_file='simscenes_infos_train_xray-student.pkl',
        pipeline=train_pipeline))

model = dict(
    _delete_=True,
    type='mmkd.DistillModel',
    student=_base_.model,
    teacher=dict(
        cfg_path='{{fileDirname}}/'
        'centerpoint_pillar04-small_second-secfpn_20e_simscenes-oc.py'),
    teacher_ckpt='work_dirs/'
    'centerpoint_pillar04-small_second-secfpn_20e_simscenes-oc/epoch_20.pth',
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
custom_hooks = [dict(type='mmkd.XRayInfosCheckHook', role='student')]
