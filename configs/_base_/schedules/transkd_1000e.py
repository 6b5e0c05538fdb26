# TransKD's schedule (official train/train_*.py): AdamW (lr 6e-5, betas
# 0.9/0.999, eps 1e-8, weight decay 0.01 on every parameter: no
# paramwise rules, unlike mmseg's SegFormer configs), polynomial decay of
# power 1 to 0 over a 1500-epoch horizon, stepped once per epoch, of which
# 1000 epochs are trained: the last epoch runs at about 2e-5.
# The official PolynomialLRDecay (torch_poly_lr_decay) steps once when
# built, so its epoch e (from 0) runs at 6e-5 * (1 - (e + 1) / 1500), the
# last at 2e-5; mmengine's PolyLR reaches 0 at its last step (end - 1), so
# epoch e runs at 6e-5 * (1 - e / 1499), the last at 2.0013e-5: the same
# line scaled by 1500 / 1499 (+0.07%).
# Validation after every epoch, the best mIoU checkpoint kept: the official
# scripts report their best validation epoch (`model_best`).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW',
        lr=6e-5,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0.01))
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=0.0,
        power=1.0,
        begin=0,
        end=1500,
        by_epoch=True)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1000, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='CheckpointHook',
        by_epoch=True,
        interval=1,
        max_keep_ckpts=1,
        save_best='mIoU',
        rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
