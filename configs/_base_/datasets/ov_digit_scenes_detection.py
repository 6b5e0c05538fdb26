# Open-vocabulary DigitScenes detection: digits 0-6 are base classes
# (annotated in train), 7-9 novel (in the train images, unannotated; all
# annotated in val). Generated into `data_root`, then split, on first use:
# annotations/instances_train_ov_base.json (base annotations, every
# image), instances_val_ov_all.json (all), ov_split.json. A training set
# with novel annotations is an error (`check_no_novel`, on by default out of
# test mode; an oracle sets it False and reads instances_train.json).
#
# 448 px canvases (the digits scale with them: 70-168 px): OAKE's 224 px
# windows (stride <= 112) fit 3 x 3 times, and 2 x 2 on the canvas shrunk
# by 1.5, so the teacher sees blocks besides the whole image. The student
# reads them resized to `img_scale`.
dataset_type = 'mmkd.OVDigitScenesDetDataset'
data_root = 'data/digit_scenes_ov/'
generate_cfg = dict(img_size=448)
# not the default root: generated on first use only when asked to
auto_generate = True
base_classes = ('0', '1', '2', '3', '4', '5', '6')
novel_classes = ('7', '8', '9')
metainfo = dict(
    classes=('0', '1', '2', '3', '4', '5', '6', '7', '8', '9'),
    base_classes=base_classes,
    novel_classes=novel_classes)
img_scale = (224, 224)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        auto_generate=auto_generate,
        generate_cfg=generate_cfg,
        ann_file='annotations/instances_train_ov_base.json',
        data_prefix=dict(img='img_dir/train/'),
        metainfo=metainfo,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        auto_generate=auto_generate,
        generate_cfg=generate_cfg,
        ann_file='annotations/instances_val_ov_all.json',
        data_prefix=dict(img='img_dir/val/'),
        metainfo=metainfo,
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
# coco/bbox_AP50_base, coco/bbox_AP50_novel, coco/bbox_AP50_all; OADP
# evaluates 300 detections per image (with its test_cfg's max_per_img)
val_evaluator = dict(
    type='mmkd.OVCocoMetric',
    ann_file=data_root + 'annotations/instances_val_ov_all.json',
    metric='bbox',
    max_dets=100)
test_evaluator = val_evaluator
