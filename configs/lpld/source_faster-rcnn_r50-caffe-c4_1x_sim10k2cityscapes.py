# The source model of Sim10k -> Cityscapes (car): trained on the labelled
# Sim10k cars (data/sim10k/VOC2012/, the whole trainval set), validated on
# Cityscapes test_s (the source-only baseline).
_base_ = [
    '../_base_/models/faster-rcnn_r50-caffe-c4_sfda.py',
    '../_base_/datasets/cityscapes-car_sfda.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py'
]
model = dict(roi_head=dict(bbox_head=dict(num_classes=1)))
train_dataloader = dict(
    batch_size=2,
    dataset=dict(
        data_root='data/sim10k/',
        ann_file='VOC2012/ImageSets/Main/trainval.txt',
        data_prefix=dict(sub_data_root='VOC2012/'),
        filter_cfg=dict(filter_empty_gt=True),
        pipeline={{_base_.train_pipeline}}))
