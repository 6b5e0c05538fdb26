# The DigitScenes detector recipe (Faster R-CNN R18-FPN from scratch):
# AdamW 1e-3, gradient norm clipped at 10, warm-up 200, cosine decay to 2k
# iterations, validation every 1k, seed 0. On mmdet's runtime (its base),
# whose logger and checkpoint hooks it sets by iteration; the latest
# checkpoint only, every 250 iterations, so that a killed run resumes
# (tools/train.py --resume) losing minutes, not up to an hour. Shared by
# the OADP proposal network, the OADP student and its benchmark rows, and
# the LPLD source model (3k iterations).
_base_ = 'mmdet::_base_/default_runtime.py'
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
        type='CheckpointHook', by_epoch=False, interval=250,
        max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
