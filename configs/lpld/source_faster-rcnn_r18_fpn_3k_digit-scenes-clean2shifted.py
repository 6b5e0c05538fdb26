# The source model of the DigitScenes adaptation: Faster R-CNN R18-FPN
# trained on the labelled clean domain, validated on the shifted domain
# (the source-only baseline).
_base_ = [
    '../_base_/models/faster-rcnn_r18_fpn_digit_scenes.py',
    '../_base_/datasets/digit_scenes-shifted_sfda.py',
    'mmdet::_base_/default_runtime.py'
]
train_dataloader = dict(
    batch_size=8,
    sampler=dict(_delete_=True, type='InfiniteSampler', shuffle=True),
    dataset=dict(
        data_root='data/digit_scenes/',
        generate_cfg=dict(domain='clean'),
        pipeline={{_base_.train_pipeline}}))
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4),
    clip_grad=dict(max_norm=10.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
         end=200),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=False, begin=200,
         end=3000)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=3000, val_interval=1000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
randomness = dict(seed=0)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    checkpoint=dict(
        type='CheckpointHook', by_epoch=False, interval=1000,
        max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
