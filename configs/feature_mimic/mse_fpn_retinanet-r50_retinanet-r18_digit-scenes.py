# FPN mimicking on DigitScenes detection (COCO format): RetinaNet-R50 into
# RetinaNet-R18, the pair of projects/distill_hook_mmdet as a DistillModel.
_base_ = [
    '../../projects/distill_hook_mmdet/configs/retinanet_r18_fpn_digit-scenes.py'  # noqa: E501
]

model = dict(
    _delete_=True,
    type='mmkd.DistillModel',
    student={{_base_.model}},
    teacher=dict(cfg_path='{{fileDirname}}/../../projects/distill_hook_mmdet/'
                 'configs/retinanet_r50_fpn_digit-scenes.py'),
    teacher_ckpt='work_dirs/retinanet_r50_fpn_digit-scenes/epoch_12.pth',
    taps=dict(student=dict(fpn='neck'), teacher=dict(fpn='neck')),
    losses=dict(
        mse_fpn=dict(
            type='MSEFeatureLoss',
            normalize=True,
            loss_weight=6.0,
            student='fpn',
            teacher='fpn')))
