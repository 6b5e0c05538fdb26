# The source model of Cityscapes -> Foggy Cityscapes: trained on labelled
# clear Cityscapes (train_s), validated on Foggy test_t (the source-only
# baseline).
_base_ = [
    '../_base_/models/faster-rcnn_r50-caffe-c4_sfda.py',
    '../_base_/datasets/foggy-cityscapes_sfda.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py'
]
model = dict(roi_head=dict(bbox_head=dict(num_classes=8)))
train_dataloader = dict(
    batch_size=2,
    dataset=dict(
        ann_file='VOC2007/ImageSets/Main/train_s.txt',
        filter_cfg=dict(filter_empty_gt=True),
        pipeline={{_base_.train_pipeline}}))
