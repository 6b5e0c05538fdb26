# OV-LVIS 866/337: LVIS v1, the frequent and common classes base (their
# annotations in train), the rare ones novel (all annotated in val; APr is
# the novel AP). Write the split files first (not generated on first use):
#   python tools/dataset_converters/ov_split.py lvis data/lvis_v1
# mmdet's LVIS v1 instance settings otherwise (mmdet::lvis/mask-rcnn_r50_
# fpn_sample1e-3_ms-1x_lvis-v1.py's data): class-balanced resampling
# (RFS, oversample_thr 1e-3), LVISMetric on boxes and masks (it needs the
# `lvis` package; the dataset does not).
_base_ = 'mmdet::_base_/datasets/lvis_v1_instance.py'

dataset_type = 'mmkd.OVLVISV1Dataset'
data_root = 'data/lvis_v1/'
train_dataloader = dict(
    dataset=dict(
        dataset=dict(
            type=dataset_type,
            data_root=data_root,
            ann_file='annotations/lvis_v1_train_ov_base.json')))
val_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/lvis_v1_val_ov_all.json'))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root +
                     'annotations/lvis_v1_val_ov_all.json')
test_evaluator = val_evaluator
