# OV-COCO 48/17: COCO 2017 restricted to the 65 classes of the split, 48
# base classes annotated in train, all 65 in val. Write the split files
# first (they are not generated on first use):
#   python tools/dataset_converters/ov_split.py coco data/coco
# mmdet's COCO pipelines and loaders otherwise (train drops the images left
# without base annotations: filter_empty_gt, mmdet 2's default too).
_base_ = 'mmdet::_base_/datasets/coco_detection.py'

dataset_type = 'mmkd.OVCocoDataset'
data_root = 'data/coco/'
train_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/instances_train2017_ov_base.json'))
val_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/instances_val2017_ov_all.json'))
test_dataloader = val_dataloader
# coco/bbox_AP50_base, coco/bbox_AP50_novel, coco/bbox_AP50_all; OADP
# evaluates 300 detections per image (with its test_cfg's max_per_img)
val_evaluator = dict(
    _delete_=True,
    type='mmkd.OVCocoMetric',
    ann_file=data_root + 'annotations/instances_val2017_ov_all.json',
    metric='bbox',
    max_dets=100)
test_evaluator = val_evaluator
