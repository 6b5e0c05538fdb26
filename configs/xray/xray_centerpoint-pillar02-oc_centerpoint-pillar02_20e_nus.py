# X-Ray on nuScenes: mmdet3d's CenterPoint (0.2 m pillars) on
# the normal frames learns from the same detector trained on the
# Object-Complete frames (BEV neck features, heat-maps, regression maps
# in the boxes); the pipeline is mmdet3d's without GT-sampling, with the
# teacher's cloud loaded, augmented and packed beside the student's
# (./_base_/xray_student.py; see the SimScenes config). Train the teacher
# first:
#   configs/xray/centerpoint_pillar02_second-secfpn_head-circlenms_20e_nus-oc.py
_base_ = [
    './centerpoint_pillar02_second-secfpn_head-circlenms_20e_nus.py',
    './_base_/xray_student.py'
]
xray_teacher = 'centerpoint_pillar02_second-secfpn_head-circlenms_20e_nus-oc'

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
        dataset=dict(
            ann_file='nuscenes_infos_train_xray-student.pkl',
            pipeline=train_pipeline)))

model = dict(
    _delete_=True,
    **_base_.xray_distiller,
    student=_base_.model,
    teacher=dict(cfg_path='{{fileDirname}}/' + xray_teacher + '.py'),
    teacher_ckpt=f'work_dirs/{xray_teacher}/epoch_20.pth',
    losses=dict(
        _base_.xray_losses,
        regression=dict(
            _base_.xray_losses.regression,
            mask=dict(
                type='BEVBoxFootprintMask',
                point_cloud_range=_base_.point_cloud_range),
            mask_average=True)))
