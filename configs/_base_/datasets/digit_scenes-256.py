# DigitScenes at 256 px: the digits are 40-96 px, so at the logits' stride 8
# a boundary band of k = 5 px covers about 30% of a digit's pixels (half of
# them at 128 px), as in street scenes where boundaries are a minority.
# Training reads random 128x128 crops (as mmseg trains on Cityscapes crops)
# and testing the whole 256x256 canvas. The data are generated into
# `data_root` on first use.
_base_ = ['./digit_scenes.py']

data_root = 'data/digit_scenes_256/'
generate_cfg = dict(img_size=256, seed=0)
crop_size = (128, 128)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='mmkd.CheckSegLabels', num_classes=11),
    # most of a canvas is background: a crop holds at most 85% of one class
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.85),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        auto_generate=True,
        generate_cfg=generate_cfg,
        pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        data_root=data_root, auto_generate=True, generate_cfg=generate_cfg))
test_dataloader = val_dataloader
