# MMRazor 1.0.0 (needs MMRazor installed; see docs/benchmarks.md): the same
# pair and loss with SingleTeacherDistill, whose teacher runs its whole
# loss path. Switch `type` to 'FpnTeacherDistill' for MMRazor's variant that
# runs the teacher's backbone and neck only.
_base_ = ['./faster-rcnn_r18_fpn_digit-scenes-512.py']
student = _base_.model
student._scope_ = 'mmdet'
teacher = _base_.model.copy()
model = dict(
    _scope_='mmrazor',
    _delete_=True,
    type='SingleTeacherDistill',
    data_preprocessor=dict(
        type='mmdet.DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=32),
    architecture=student,
    teacher=dict(
        _scope_='mmdet',
        type='FasterRCNN',
        data_preprocessor=student.data_preprocessor,
        backbone=dict(
            type='ResNet', depth=50, num_stages=4, out_indices=(0, 1, 2, 3),
            frozen_stages=1, norm_cfg=dict(type='BN', requires_grad=True),
            norm_eval=True, style='pytorch', init_cfg=None),
        neck=dict(type='FPN', in_channels=[256, 512, 1024, 2048],
                  out_channels=256, num_outs=5),
        rpn_head=student.rpn_head,
        roi_head=student.roi_head,
        train_cfg=student.train_cfg,
        test_cfg=student.test_cfg),
    teacher_ckpt='',  # set on the command line
    distiller=dict(
        type='ConfigurableDistiller',
        student_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        teacher_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        distill_losses=dict(loss_pkd=dict(type='PKDLoss', loss_weight=6)),
        loss_forward_mappings=dict(
            loss_pkd=dict(
                preds_S=dict(from_student=True, recorder='fpn'),
                preds_T=dict(from_student=False, recorder='fpn')))))
