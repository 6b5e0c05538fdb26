# X-Ray in mmdet3d's own training: mmkd's SimScenes X-Ray student with its
# distiller moved into mmkd.DistillHook, so that the model is the ordinary
# mmdet3d CenterPoint of the baseline. From the student config it keeps
# the two-cloud pipeline (mmkd.LoadTeacherPoints, mmkd.SharedAugment,
# mmkd.PackTeacherView), the X-Ray student infos and the infos check; the
# hook feeds the teacher its own Object-Complete cloud (teacher_view=True).
# mmdet3d's tools/train.py runs it; its tools/test.py tests the student as
# usual.
_base_ = [
    '../../../configs/xray/'
    'xray_centerpoint-pillar04-small-oc_centerpoint-pillar04-small_20e_'
    'simscenes.py'
]

model = dict(_delete_=True, **_base_.model.student)
custom_hooks = [
    dict(
        type='mmkd.DistillHook',
        **{
            key: value
            for key, value in _base_.model.items()
            if key not in ('type', 'student')
        }),
    *_base_.custom_hooks,
]
