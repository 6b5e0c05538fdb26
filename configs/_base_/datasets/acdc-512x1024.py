# ACDC (Sakaridis et al., ICCV 2021): 1080x1920 images of four adverse
# conditions with Cityscapes' 19 train ids, read by mmseg's
# CityscapesDataset with ACDC's folder layout and suffixes:
#   rgb_anon/<cond>/<split>/<sequence>/*_rgb_anon.png
#   gt/<cond>/<split>/<sequence>/*_gt_labelTrainIds.png
# (from rgb_anon_trainvaltest.zip and gt_trainval.zip; the `*_ref` folders
# and the test split, whose labels are withheld, are not read). Each split
# concatenates the four conditions. Same recipe as
# `cityscapes-512x1024.py`: resized around 512 px high (512x910), 512x1024
# crops (padded by the data preprocessor), tested whole at 512x910.
# mmkd.CheckSegLabels refuses label maps outside the 19 train ids (as in
# cityscapes-512x1024.py).
dataset_type = 'CityscapesDataset'
data_root = 'data/acdc/'
conditions = ('fog', 'night', 'rain', 'snow')
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
acdc_suffixes = dict(
    img_suffix='_rgb_anon.png', seg_map_suffix='_gt_labelTrainIds.png')
train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='ConcatDataset',
        datasets=[
            dict(
                type=dataset_type,
                data_root=data_root,
                data_prefix=dict(
                    img_path=f'rgb_anon/{cond}/train',
                    seg_map_path=f'gt/{cond}/train'),
                pipeline=train_pipeline,
                **acdc_suffixes) for cond in conditions
        ]))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='ConcatDataset',
        datasets=[
            dict(
                type=dataset_type,
                data_root=data_root,
                data_prefix=dict(
                    img_path=f'rgb_anon/{cond}/val',
                    seg_map_path=f'gt/{cond}/val'),
                pipeline=test_pipeline,
                **acdc_suffixes) for cond in conditions
        ]))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
