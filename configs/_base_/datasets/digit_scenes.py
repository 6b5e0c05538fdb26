# DigitScenes (mmkd's built-in dataset) in mmseg's folder format: 128x128
# canvases of real handwritten digit scans, 11 classes with background. It is
# generated into the default `data_root` on first use (another root needs
# `auto_generate=True` on the dataset).
dataset_type = 'mmkd.DigitScenesDataset'
data_root = 'data/digit_scenes/'

# CheckSegLabels: a label outside 0-10 (255 is ignored) fails when its sample
# is loaded, naming the file, rather than in the loss iterations later
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='mmkd.CheckSegLabels', num_classes=11),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='mmkd.CheckSegLabels', num_classes=11),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(
            img_path='img_dir/train', seg_map_path='ann_dir/train'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader

# mIoU and the mean Boundary IoU within 2 px of each class contour (digit
# strokes are 3-6 px wide at 128 px, so a wider band would cover them whole)
val_evaluator = dict(
    type='mmkd.BoundaryIoUMetric', iou_metrics=['mIoU'], boundary_width=2)
test_evaluator = val_evaluator
