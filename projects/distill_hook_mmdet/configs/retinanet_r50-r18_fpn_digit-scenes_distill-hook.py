# The RetinaNet-R18 DigitScenes config plus the lines that distil a
# RetinaNet-R50 teacher's FPN features into it; mmdet's own tools/train.py
# runs it.
_base_ = ['./retinanet_r18_fpn_digit-scenes.py']

custom_imports = dict(imports=['mmkd'], allow_failed_imports=False)
custom_hooks = [
    dict(
        type='mmkd.DistillHook',
        teacher=dict(
            cfg_path='{{fileDirname}}/retinanet_r50_fpn_digit-scenes.py'),
        teacher_ckpt='work_dirs/retinanet_r50_fpn_digit-scenes/epoch_12.pth',
        taps=dict(student=dict(fpn='neck'), teacher=dict(fpn='neck')),
        losses=dict(
            mse_fpn=dict(
                type='MSEFeatureLoss',
                normalize=True,
                loss_weight=6.0,
                student='fpn',
                teacher='fpn')))
]
