# Source-free adaptation to the shifted DigitScenes domain (textured
# backgrounds, colour cast, fog, noise): training reads the target images
# only, as weak and strong views; the target labels are read for evaluation
# only. `train_pipeline` (clean, labelled) is kept for the source model.
_base_ = ['./digit_scenes_detection.py', './sfda_target_views.py']

data_root = 'data/digit_scenes_shifted/'
generate_cfg = dict(domain='shifted')
# not the default root: generated on first use only when asked to
auto_generate = True
target_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    {{_base_.target_views}}
]
train_dataloader = dict(
    batch_size=4,
    sampler=dict(_delete_=True, type='DefaultSampler', shuffle=True),
    dataset=dict(
        data_root=data_root,
        auto_generate=auto_generate,
        generate_cfg=generate_cfg,
        pipeline=target_train_pipeline))
val_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        auto_generate=auto_generate,
        generate_cfg=generate_cfg))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator
