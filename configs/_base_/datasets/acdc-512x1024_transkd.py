# ACDC under TransKD's protocol (official train/train_*.py with
# `--dataset ACDC`, eval/eval_ACDC_iou.py): the four conditions' images
# (ACDC's layout, see `acdc-512x1024.py`) resized to 512x910 and flipped
# half of the time, batches of 2 in epochs (padded to 512x1024 by the data
# preprocessor, the padding ignored; the official code trains at 512x910);
# scored at a quarter of the input (128x228, mmkd.IoUMetric with
# label_scale=0.25): not comparable with mmseg's full-resolution mIoU. As
# for Cityscapes (`cityscapes-512x1024_transkd.py`), the official 2 px
# shift is left out.
dataset_type = 'CityscapesDataset'
data_root = 'data/acdc/'
conditions = ('fog', 'night', 'rain', 'snow')
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='mmkd.CheckSegLabels', num_classes=19),
    dict(type='Resize', scale=(1024, 512), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
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
    sampler=dict(type='DefaultSampler', shuffle=True),
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
val_evaluator = dict(
    type='mmkd.IoUMetric', iou_metrics=['mIoU'], label_scale=0.25)
test_evaluator = val_evaluator
