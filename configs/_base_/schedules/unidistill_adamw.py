# UniDistill's schedule: AdamW (weight decay 1e-7), gradient norm clipped at
# 0.1, lr x 0.1 at 50 % and 75 % of training (epochs 10 and 15 of 20), seed 0.
# The official lr is 1e-3 for LiDAR and fusion models, 2e-4 for cameras.
max_epochs = 20
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-7),
    clip_grad=dict(max_norm=0.1, norm_type=2))
param_scheduler = [
    dict(
        type='MultiStepLR',
        by_epoch=True,
        begin=0,
        end=max_epochs,
        milestones=[max_epochs // 2, max_epochs * 3 // 4],
        gamma=0.1)
]
randomness = dict(seed=0)
