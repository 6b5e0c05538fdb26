# OADP's base-class proposal network on open-vocabulary DigitScenes: the
# DigitScenes Faster R-CNN R18-FPN (from scratch) trained on the OV train
# split, whose annotations are the base digits 0-6 only (novel digits 7-9
# stay in the pixels, unannotated: the dataset refuses a split with novel
# annotations). Its RPN gives OAKE's object proposals (official OADP: OLN
# trained on the base classes):
#   python tools/train.py THIS_CONFIG --work-dir work_dirs/oadp_proposals
#   python tools/misc/oadp_proposals.py THIS_CONFIG \
#       work_dirs/oadp_proposals/iter_2000.pth \
#       --out data/digit_scenes_ov/proposals/train.pkl --num-proposals 100
# (the OADP config's proposal_file; keys: image paths relative to
# data_root; 100 per image instead of OLN's 1500: a canvas holds a few
# digits, and OAKE embeds every proposal). Validation: AP50 of the base
# digits (novel: ~0, never labelled).
_base_ = [
    '../_base_/models/faster-rcnn_r18_fpn_digit_scenes.py',
    '../_base_/datasets/ov_digit_scenes_detection.py',
    'mmdet::_base_/default_runtime.py'
]

# the DigitScenes detector recipe (the OADP student's, without distillation)
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4),
    clip_grad=dict(max_norm=10.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=200),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-5,
        by_epoch=False,
        begin=200,
        end=2000)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=2000, val_interval=1000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
randomness = dict(seed=0)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    checkpoint=dict(
        type='CheckpointHook', by_epoch=False, interval=1000,
        max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
