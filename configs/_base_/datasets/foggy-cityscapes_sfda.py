# Cityscapes -> Foggy Cityscapes (beta 0.02), 8 classes, in the VOC layout
# the domain-adaptive detection benchmarks use: data/cityscape/VOC2007/ with
# ImageSets/Main/train_s|test_s (clear) and train_t|test_t (foggy).
# Training reads unlabelled foggy images as weak/strong views; evaluation is
# VOC07 11-point AP50 on the foggy test split. `train_pipeline` is the
# labelled pipeline of the source model.
_base_ = ['./sfda_target_views.py']

dataset_type = 'mmkd.VOCLayoutDataset'
data_root = 'data/cityscape/'
metainfo = dict(classes=('person', 'rider', 'car', 'truck', 'bus', 'train',
                         'motorcycle', 'bicycle'))
img_scale = (1333, 600)  # shorter side 600, longer at most 1333
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
target_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    {{_base_.target_views}}
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
    batch_size=1,  # LPLD's setting
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='VOC2007/ImageSets/Main/train_t.txt',
        data_prefix=dict(sub_data_root='VOC2007/'),
        metainfo=metainfo,
        pipeline=target_train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='VOC2007/ImageSets/Main/test_t.txt',
        data_prefix=dict(sub_data_root='VOC2007/'),
        metainfo=metainfo,
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='VOCMetric', metric='mAP', eval_mode='11points')
test_evaluator = val_evaluator
