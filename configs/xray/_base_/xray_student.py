# What every X-Ray student shares, whatever its detector
# (docs/methods/xray.md): the two-cloud training pipeline's parts, the
# DistillModel's settings with the taps and losses of
# configs/_base_/distill/xray_centerpoint.py, the infos check. A student
# config lists it after its baseline (an mmdet3d CenterPoint config) and
# fills in what only the baseline knows: which of its transforms to wrap,
# its range and classes, its model, the teacher (mmengine's configs cannot
# read a sibling base's values, so those few lines stay in each student,
# as in the SimScenes one, xray_centerpoint-pillar04-small-oc_...).
_base_ = ['../../_base_/distill/xray_centerpoint.py']

xray_views = dict(points='teacher_points')
# the baseline's transforms that load the cloud: mmkd.LoadTeacherPoints
# runs them for the student's and again for the teacher's (the patched
# keyframe, the same sweeps)
xray_load = ['LoadPointsFromFile', 'LoadPointsFromMultiSweeps']
xray_annotations = [
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True)
]
# its random BEV augmentation and the range filter after it, drawn once
# for both clouds (GT-sampling is left out: its database holds
# single-frame objects and it would not paste the same ones into both)
xray_augment = ['GlobalRotScaleTrans', 'RandomFlip3D', 'PointsRangeFilter']
xray_shared_augment = dict(type='mmkd.SharedAugment', views=xray_views)
xray_pack = [
    dict(type='PointShuffle'),
    # the completed objects' points come last in the patched files: shuffle
    # them too, or full pillars would keep the keyframe's points only
    dict(
        type='KeyMapper',
        mapping=xray_views,
        transforms=[dict(type='PointShuffle')]),
    dict(
        type='mmkd.PackTeacherView',
        views=xray_views,
        pack=dict(
            type='Pack3DDetInputs',
            keys=['points', 'gt_bboxes_3d', 'gt_labels_3d'])),
]
xray_distiller = dict(
    type='mmkd.DistillModel',
    # the teacher reads its own cloud, through its own preprocessor
    teacher_view=True,
    # mmdet3d's CenterPoint has no tensor mode
    teacher_mode='loss',
    taps=dict(student=_base_.xray_taps, teacher=_base_.xray_taps))
custom_imports = dict(imports=['mmkd'], allow_failed_imports=False)
custom_hooks = [dict(type='mmkd.XRayInfosCheckHook', role='student')]
