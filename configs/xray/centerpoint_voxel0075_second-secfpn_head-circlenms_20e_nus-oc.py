# X-Ray's teacher on nuScenes: the baseline's CenterPoint trained and
# validated on the Object-Complete frames, without GT-sampling (its
# database holds single-frame objects; the X-Ray student goes without it
# too). Write the frames first (docs/methods/xray.md):
#   python tools/dataset_converters/xray_object_complete.py data/nuscenes \
#       --info-prefix nuscenes
# XRayInfosCheckHook refuses other train infos before training.
_base_ = ['./centerpoint_voxel0075_second-secfpn_head-circlenms_20e_nus.py']

train_pipeline = [
    t for t in _base_.train_pipeline if t['type'] != 'ObjectSample'
]
train_dataloader = dict(
    dataset=dict(
        dataset=dict(
            ann_file='nuscenes_infos_train_xray-teacher.pkl',
            pipeline=train_pipeline)))
val_dataloader = dict(
    dataset=dict(ann_file='nuscenes_infos_val_xray-teacher.pkl'))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=_base_.data_root +
                     'nuscenes_infos_val_xray-teacher.pkl')
test_evaluator = val_evaluator
custom_imports = dict(imports=['mmkd'], allow_failed_imports=False)
custom_hooks = [dict(type='mmkd.XRayInfosCheckHook', role='teacher')]
