# The source model of VOC -> Clipart1k: trained on labelled Pascal VOC
# 2007 + 2012 trainval (data/VOCdevkit/), validated on Clipart1k test (the
# source-only baseline).
_base_ = [
    '../_base_/models/faster-rcnn_r50-caffe-c4_sfda.py',
    '../_base_/datasets/clipart_sfda.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py'
]
model = dict(roi_head=dict(bbox_head=dict(num_classes=20)))
voc = dict(
    type='mmkd.VOCLayoutDataset',
    data_root='data/VOCdevkit/',
    metainfo={{_base_.metainfo}},
    filter_cfg=dict(filter_empty_gt=True),
    pipeline={{_base_.train_pipeline}})
train_dataloader = dict(
    batch_size=2,
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        datasets=[
            dict(
                ann_file='VOC2007/ImageSets/Main/trainval.txt',
                data_prefix=dict(sub_data_root='VOC2007/'),
                **voc),
            dict(
                ann_file='VOC2012/ImageSets/Main/trainval.txt',
                data_prefix=dict(sub_data_root='VOC2012/'),
                **voc)
        ]))
