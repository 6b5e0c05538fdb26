# mmkd: PKD-style FPN mimicking (channel-standardised MSE per level) from
# Faster R-CNN R50 into R18; the teacher runs backbone and neck only.
_base_ = ['./faster-rcnn_r18_fpn_digit-scenes-512.py']

model = dict(
    _delete_=True,
    type='mmkd.DistillModel',
    student={{_base_.model}},
    teacher=dict(cfg_path='{{fileDirname}}/faster-rcnn_r50_fpn_digit-scenes-512.py'),
    teacher_ckpt='',  # set on the command line
    taps=dict(student=dict(fpn='neck'), teacher=dict(fpn='neck')),
    losses=dict(
        pkd_fpn=dict(
            type='MSEFeatureLoss',
            normalize=True,
            loss_weight=6.0,
            student='fpn',
            teacher='fpn')))
