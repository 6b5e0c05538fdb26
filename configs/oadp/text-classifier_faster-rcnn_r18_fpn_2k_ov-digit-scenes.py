# OADP's baseline on open-vocabulary DigitScenes: the DP student's detector
# (Faster R-CNN R18-FPN from scratch, OADP's 4conv1fc bbox head with the
# ViLD text classifier, novel columns -inf in training) trained on the base
# digits 0-6 with the same pipeline, recipe and test settings, without
# any distillation: what the text embeddings alone give the novel digits
# 7-9. The benchmark's gated baseline (base AP50).
_base_ = [
    '../_base_/models/faster-rcnn_r18_fpn_digit_scenes.py',
    '../_base_/datasets/ov_digit_scenes_detection.py',
    '../_base_/schedules/digit_scenes_detection_2k.py'
]
data_root = 'data/digit_scenes_ov/'
classes = ('0', '1', '2', '3', '4', '5', '6', '7', '8', '9')
base_classes = ('0', '1', '2', '3', '4', '5', '6')
img_scale = (224, 224)

# OADP's bbox head (_base_/models/oadp_dp.py) and its DigitScenes classifier
model = dict(
    roi_head=dict(
        bbox_head=dict(
            type='Shared4Conv1FCBBoxHead',
            conv_out_channels=64,
            norm_cfg=dict(type='BN', requires_grad=True),
            reg_class_agnostic=True,
            cls_predictor_cfg=dict(
                type='mmkd.OADPViLDClassifier',
                embeddings=data_root + 'clip/text_embeddings_vild.pth',
                classes=classes,
                base_classes=base_classes))),
    test_cfg=dict(rcnn=dict(score_thr=0.0, max_per_img=300)))

# the student's pipeline without OAKE's records
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackDetInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_evaluator = dict(max_dets=300)
test_evaluator = val_evaluator
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'roi_head.bbox_head': dict(lr_mult=0.5)}))
