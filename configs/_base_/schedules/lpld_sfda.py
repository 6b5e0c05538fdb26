# LPLD's adaptation schedule (official train_main.py): SGD, constant lr
# 0.001, the mean teacher updated with keep rate 0.75 once per epoch.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.001, momentum=0.9, weight_decay=1e-4))
param_scheduler = []
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=10, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
custom_hooks = [
    dict(type='mmkd.MeanTeacherHook', keep_rate=0.75, by_epoch=True),
    # the source model's classes must be the target dataset's
    dict(type='mmdet.NumClassCheckHook')
]
