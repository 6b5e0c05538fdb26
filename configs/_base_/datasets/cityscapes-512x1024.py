# Cityscapes at half resolution (mmseg's `_base_/datasets/cityscapes.py`
# with the crop and test sizes set): 1024x2048 images resized around
# 512x1024 (scale jitter 0.5-2), 512x1024 crops, tested whole at 512x1024.
# The model's data_preprocessor pads to (512, 1024). mmkd.CheckSegLabels
# refuses a label map with values outside 0-18 (e.g. *_labelIds.png where
# mmseg's converter writes *_labelTrainIds.png), naming it: training would
# fail later naming no file, and mmseg's IoUMetric drops such pixels.
_base_ = 'mmseg::_base_/datasets/cityscapes.py'

crop_size = (512, 1024)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='mmkd.CheckSegLabels', num_classes=19),
    dict(
        type='RandomResize',
        scale=(1024, 512),
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1024, 512), keep_ratio=True),
    # annotations are loaded after Resize: scored at their own size
    dict(type='LoadAnnotations'),
    dict(type='mmkd.CheckSegLabels', num_classes=19),
    dict(type='PackSegInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
