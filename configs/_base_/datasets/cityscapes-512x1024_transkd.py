# Cityscapes under TransKD's protocol (official train/train_*.py and
# eval/eval_cityscapes_iou.py): the whole image resized to 512x1024 and
# flipped half of the time (no scale jitter, crop or colour jitter),
# batches of 2 in epochs; scored at a quarter of the input, the stride-4
# logits' grid (mmkd.IoUMetric, label_scale=0.25): not comparable with
# mmseg's full-resolution mIoU. The official transform also shifts image
# and labels by up to 2 px (by the same pixel count at their different
# resolutions, so they disagree by up to 6 input px); that jitter is left
# out. The labels' quarter resolution in training is the model's part
# (`mmkd.CoarseLabelEncoderDecoder`, `_base_/models/*_transkd.py`).
_base_ = './cityscapes-512x1024.py'

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='mmkd.CheckSegLabels', num_classes=19),
    dict(type='Resize', scale=(1024, 512), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=2,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(pipeline=train_pipeline))
val_evaluator = dict(
    type='mmkd.IoUMetric', iou_metrics=['mIoU'], label_scale=0.25)
test_evaluator = val_evaluator
