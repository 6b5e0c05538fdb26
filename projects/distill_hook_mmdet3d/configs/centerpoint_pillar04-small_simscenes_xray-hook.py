# X-Ray in mmdet3d's own training: the SimScenes CenterPoint-pillar config
# (an ordinary mmdet3d config) plus the lines that distil the same detector
# trained on Object-Complete frames into it with mmkd.DistillHook. Each
# sample loads the student's cloud and the teacher's Object-Complete cloud
# (mmkd.LoadTeacherPoints), augments both with one draw
# (mmkd.SharedAugment) and packs the teacher's (mmkd.PackTeacherView); the
# hook feeds it to the teacher (teacher_view=True). mmdet3d's
# tools/train.py runs it; its tools/test.py tests the student as usual.
_base_ = [
    '../../../configs/xray/'
    'centerpoint_pillar04-small_second-secfpn_20e_simscenes.py',
    '../../../configs/_base_/distill/xray_centerpoint.py'
]

custom_imports = dict(imports=['mmkd'], allow_failed_imports=False)

views = dict(points='teacher_points')
train_pipeline = [
    dict(type='mmkd.LoadTeacherPoints', transforms=_base_.load_points),
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True),
    dict(type='mmkd.SharedAugment', views=views, transforms=_base_.augment),
    *_base_.filter_objects,
    dict(type='PointShuffle'),
    dict(type='KeyMapper', mapping=dict(points='teacher_points'),
         transforms=[dict(type='PointShuffle')]),
    dict(type='mmkd.PackTeacherView', views=views, pack=_base_.pack),
]
train_dataloader = dict(
    dataset=dict(
        ann_file='simscenes_infos_train_xray-student.pkl',
        pipeline=train_pipeline))

custom_hooks = [
    dict(
        type='mmkd.DistillHook',
        teacher=dict(
            cfg_path='{{fileDirname}}/../../../configs/xray/'
            'centerpoint_pillar04-small_second-secfpn_20e_simscenes-oc.py'),
        teacher_ckpt='work_dirs/'
        'centerpoint_pillar04-small_second-secfpn_20e_simscenes-oc/'
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
                mask_average=True))),
    dict(type='mmkd.XRayInfosCheckHook', role='student'),
]
