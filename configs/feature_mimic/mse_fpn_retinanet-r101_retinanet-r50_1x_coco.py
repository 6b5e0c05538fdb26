# FPN feature mimicking with channel-standardised MSE (as in PKD, Cao et al.
# 2022) from RetinaNet-R101 into RetinaNet-R50, both mmdet model zoo configs.
# The teacher runs only its backbone and neck: its last tapped module.
_base_ = ['mmdet::retinanet/retinanet_r50_fpn_1x_coco.py']

teacher_ckpt = 'https://download.openmmlab.com/mmdetection/v2.0/retinanet/retinanet_r101_fpn_1x_coco/retinanet_r101_fpn_1x_coco_20200130-7a93545f.pth'  # noqa: E501
model = dict(
    _delete_=True,
    type='mmkd.DistillModel',
    student={{_base_.model}},
    teacher=dict(cfg_path='mmdet::retinanet/retinanet_r101_fpn_1x_coco.py'),
    teacher_ckpt=teacher_ckpt,
    taps=dict(student=dict(fpn='neck'), teacher=dict(fpn='neck')),
    losses=dict(
        mse_fpn=dict(
            type='MSEFeatureLoss',
            normalize=True,
            loss_weight=6.0,
            student='fpn',
            teacher='fpn')))
