# X-Ray on SimScenes: the CenterPoint-pillar student on the normal frames
# learns from the same detector trained on the Object-Complete frames
# (BEV neck features, heat-maps, regression maps in the boxes). Each sample
# loads both clouds (mmkd.LoadTeacherPoints: the patched keyframe with the
# student's sweeps), augments them with one draw (mmkd.SharedAugment) and
# packs the teacher's for its preprocessor (mmkd.PackTeacherView): the
# parts in ./_base_/xray_student.py, filled in from the baseline here.
# GT-sampling is off, as in the baseline. Train the teacher first:
#   python tools/train.py \
#       configs/xray/centerpoint_pillar04-small_second-secfpn_20e_simscenes-oc.py
_base_ = [
    './centerpoint_pillar04-small_second-secfpn_20e_simscenes.py',
    './_base_/xray_student.py'
]
xray_teacher = 'centerpoint_pillar04-small_second-secfpn_20e_simscenes-oc'

# the baseline's pipeline, for two clouds
train_pipeline = [
    dict(
        type='mmkd.LoadTeacherPoints',
        transforms=[
            t for t in _base_.train_pipeline if t.type in _base_.xray_load
        ]),
    *_base_.xray_annotations,
    dict(
        _base_.xray_shared_augment,
        transforms=[
            t for t in _base_.train_pipeline if t.type in _base_.xray_augment
        ]),
    dict(type='ObjectRangeFilter',
         point_cloud_range=_base_.point_cloud_range),
    dict(type='ObjectNameFilter', classes=_base_.class_names),
    *_base_.xray_pack,
]
train_dataloader = dict(
    dataset=dict(
        ann_file='simscenes_infos_train_xray-student.pkl',
        pipeline=train_pipeline))

model = dict(
    _delete_=True,
    **_base_.xray_distiller,
    student=_base_.model,
    teacher=dict(cfg_path='{{fileDirname}}/' + xray_teacher + '.py'),
    teacher_ckpt=f'work_dirs/{xray_teacher}/epoch_20.pth',
    # the regression maps' loss inside the boxes' footprints, on the
    # detector's grid
    losses=dict(
        _base_.xray_losses,
        regression=dict(
            _base_.xray_losses.regression,
            mask=dict(
                type='BEVBoxFootprintMask',
                point_cloud_range=_base_.point_cloud_range),
            mask_average=True)))
