# OADP's DP student (docs/methods/oadp.md), shared by its configs: the
# heads, losses, loss ramps and test settings, on any Faster / Mask R-CNN
# FPN. A model base merges `oadp_model` into its detector
# (`model = {{_base_.oadp_model}}`, e.g. oadp_faster-rcnn_r50_fpn.py); a
# method config then gives what depends on the dataset: the text
# classifiers (`cls_predictor_cfg` of the bbox, object and block heads,
# the global head's `classifier`: classes and embedding files).
oadp_model = dict(
    type='mmkd.OADPDetector',
    roi_head=dict(
        type='mmkd.OADPRoIHead',
        # OADP's bbox head: 4 convs 1 fc, class-agnostic regression, a text
        # classifier with a learnable background embedding
        bbox_head=dict(
            type='Shared4Conv1FCBBoxHead',
            norm_cfg=dict(type='BN', requires_grad=True),
            reg_class_agnostic=True),
        object_head=dict(
            type='mmkd.OADPObjectHead',
            norm_cfg=dict(type='BN', requires_grad=True),
            loss_distill=dict(type='mmkd.L1FeatureLoss', loss_weight=256.0)),
        block_head=dict(
            type='mmkd.OADPBlockHead',
            loss_distill=dict(type='mmkd.L1FeatureLoss', loss_weight=128.0),
            loss_relation=dict(
                type='mmkd.GramMatrixLoss', mode='spatial', loss_weight=8.0),
            loss_cls=dict(
                type='mmkd.AsymmetricLoss',
                gamma_neg=4,
                gamma_pos=0,
                clip=0.05,
                loss_weight=16.0))),
    global_head=dict(
        type='mmkd.OADPGlobalHead',
        loss_distill=dict(
            type='mmkd.MSEFeatureLoss', reduction='sum', loss_weight=0.5),
        loss_cls=dict(
            type='mmkd.AsymmetricLoss',
            gamma_neg=4,
            gamma_pos=0,
            clip=0.05,
            loss_weight=4.0)),
    # OADP keeps every class score (score_thr 0) and 300 detections
    test_cfg=dict(rcnn=dict(score_thr=0.0, max_per_img=300)))

# OADP's warm-ups gain * min(step / end, 1), step counted from 1: the
# gains are the loss weights above, the ramps linear schedules of
# runner.iter = step - 1 from 1 / end at iteration 0 to 1 at end - 1
oadp_loss_schedules = dict(
    clip_objects=dict(type='linear', start_factor=1 / 200, end=199),
    clip_blocks=dict(type='linear', start_factor=1 / 200, end=199),
    clip_block_relations=dict(type='linear', start_factor=1 / 200, end=199),
    clip_global=dict(type='linear', start_factor=1 / 200, end=199),
    # the multi-label losses (names: not the keyword `global`)
    block_mll=dict(type='linear', start_factor=1 / 1000, end=999),
    global_mll=dict(type='linear', start_factor=1 / 2000, end=1999))
# faithful_mll_ramps: the official code (`main`, todd 0.3.0) builds the
# multi-label losses outside its distiller, whose step() alone advances the
# warm-ups, so their weights stay at the step-1 values, 16 / 1000 and
# 4 / 2000, for the whole run; a config reproduces that with
# `schedules={{_base_.oadp_faithful_mll_schedules}}`
# (oadp_faster-rcnn_r50_fpn_40k_ov-coco_faithful-mll-ramps.py)
oadp_faithful_mll_schedules = dict(
    oadp_loss_schedules,
    block_mll=dict(type='constant', factor=1 / 1000),
    global_mll=dict(type='constant', factor=1 / 2000))
custom_hooks = [
    dict(type='mmkd.DistillLossWeightHook', schedules=oadp_loss_schedules)
]
