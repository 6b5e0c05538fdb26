# MMRazor 1.0.0's SingleTeacherDistill on the DigitScenes CWD pair of
# configs/cwd/, for tools/analysis_tools/compare_step_time.py. Needs MMRazor
# installed (and patched on torch 2.13, see docs/benchmarks.md); mmkd does
# not use it.
_base_ = ['../../../configs/digit_scenes/fcn_r18-w8_2k_digit-scenes-128x128.py']
student = _base_.model
student._scope_ = 'mmseg'
model = dict(
    _scope_='mmrazor',
    _delete_=True,
    type='SingleTeacherDistill',
    architecture=student,
    data_preprocessor=dict(
        type='mmseg.SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0,
        seg_pad_val=255, size=(128, 128)),
    teacher=dict(
        _scope_='mmseg',
        type='EncoderDecoder',
        data_preprocessor=_base_.data_preprocessor,
        backbone=dict(type='ResNetV1c', depth=18, stem_channels=32, base_channels=32,
                      num_stages=4, out_indices=(0, 1, 2, 3), dilations=(1, 1, 2, 4),
                      strides=(1, 2, 1, 1), norm_cfg=dict(type='BN', requires_grad=True),
                      norm_eval=False, style='pytorch', contract_dilation=True),
        decode_head=dict(type='FCNHead', in_channels=256, in_index=3, channels=128,
                         num_convs=1, concat_input=False, dropout_ratio=0.1, num_classes=11,
                         norm_cfg=dict(type='BN', requires_grad=True), align_corners=False,
                         loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False,
                                          loss_weight=1.0)),
        train_cfg=dict(), test_cfg=dict(mode='whole')),
    teacher_ckpt='work_dirs/fcn_r18-w32_2k_digit-scenes-128x128/iter_2000.pth',
    distiller=dict(
        type='ConfigurableDistiller',
        student_recorders=dict(
            logits=dict(type='ModuleOutputs', source='decode_head.conv_seg')),
        teacher_recorders=dict(
            logits=dict(type='ModuleOutputs', source='decode_head.conv_seg')),
        distill_losses=dict(
            loss_cwd=dict(type='ChannelWiseDivergence', tau=4, loss_weight=3)),
        loss_forward_mappings=dict(
            loss_cwd=dict(
                preds_S=dict(from_student=True, recorder='logits'),
                preds_T=dict(from_student=False, recorder='logits')))))
