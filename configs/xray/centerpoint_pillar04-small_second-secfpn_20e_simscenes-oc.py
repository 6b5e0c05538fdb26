# X-Ray's teacher on SimScenes: the baseline CenterPoint-pillar trained and
# validated on the Object-Complete frames. Write them first:
#   python tools/dataset_converters/xray_object_complete.py data/simscenes
# XRayInfosCheckHook refuses other train infos before training.
_base_ = ['./centerpoint_pillar04-small_second-secfpn_20e_simscenes.py']

data_root = 'data/simscenes/'
train_dataloader = dict(
    dataset=dict(ann_file='simscenes_infos_train_xray-teacher.pkl'))
val_dataloader = dict(
    dataset=dict(ann_file='simscenes_infos_val_xray-teacher.pkl'))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root +
                     'simscenes_infos_val_xray-teacher.pkl')
test_evaluator = val_evaluator
custom_imports = dict(imports=['mmkd'], allow_failed_imports=False)
custom_hooks = [dict(type='mmkd.XRayInfosCheckHook', role='teacher')]
