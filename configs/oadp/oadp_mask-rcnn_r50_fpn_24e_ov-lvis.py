# OADP's DP student on OV-LVIS 866/337 (docs/methods/oadp.md): Mask R-CNN
# R50-FPN with class-agnostic masks distilled from OAKE's CLIP ViT-B/32
# embeddings; official configs/dp/oadp_ov_lvis.py: 24 epochs, steps at 16
# and 19, class-balanced resampling 1e-3, every head scored against
# DetPro's class embeddings with ViLD's classifier at temperature 0.01 in
# training and 0.007 at test. APr (LVISMetric, rare = novel) is the novel
# AP. The heads, losses and ramps: _base_/models/oadp_dp.py.
#
# Before training (data/lvis_v1 with LVIS v1 and the COCO 2017 images):
# 1. the split: python tools/dataset_converters/ov_split.py lvis \
#        data/lvis_v1 (annotations/lvis_v1_{train_ov_base,val_ov_all}.json
#    and ov_split.json, which names the 1203 classes and the 866 base);
# 2. DetPro's learnt-prompt embeddings of the 1203 classes in the split's
#    order (`detpro_embeddings`, mmkd.models.clip's text-embedding file:
#    names, [1203, 512]; DetPro's prompts are learnt, not a template);
# 3. base-class proposals and the OAKE caches of the training images, as
#    in oadp_faster-rcnn_r50_fpn_40k_ov-coco.py (`proposal_file`,
#    `oake_root`).
# Differences from official main: mmdet's ImageNet R50 instead of SoCo's
# Mask R-CNN weights (caffe style); fp32, not fp16.
_base_ = [
    '../_base_/models/oadp_mask-rcnn_r50_fpn.py',
    '../_base_/datasets/ov_lvis_v1_instance.py',
    'mmdet::_base_/schedules/schedule_2x.py',
    'mmdet::_base_/default_runtime.py'
]
data_root = 'data/lvis_v1/'
ov_split = data_root + 'annotations/ov_split.json'
detpro_embeddings = data_root + 'clip/text_embeddings_detpro.pth'
proposal_file = data_root + 'proposals/train.pkl'
oake_root = data_root + 'oake/train/'
num_classes = 1203

# every head: ViLD's classifier on DetPro's embeddings, OV-LVIS's
# temperatures; classes from the split
classifier = dict(
    type='mmkd.OADPViLDClassifier',
    embeddings=detpro_embeddings,
    ov_split=ov_split,
    train_temperature=0.01,
    test_temperature=0.007)
model = dict(
    neck=dict(norm_cfg=dict(type='SyncBN', requires_grad=True)),
    roi_head=dict(
        bbox_head=dict(
            num_classes=num_classes,
            norm_cfg=dict(type='SyncBN', requires_grad=True),
            cls_predictor_cfg=classifier),
        mask_head=dict(num_classes=num_classes, class_agnostic=True),
        # main builds it on the bbox head's settings: SyncBN too
        object_head=dict(
            norm_cfg=dict(type='SyncBN', requires_grad=True),
            cls_predictor_cfg=classifier),
        block_head=dict(cls_predictor_cfg=classifier)),
    global_head=dict(classifier=classifier))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='mmkd.LoadOAKERecords',
        oake_root=oake_root,
        proposal_file=proposal_file,
        data_root=data_root),
    dict(
        type='RandomResize', scale=[(1330, 640), (1333, 800)],
        keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='mmkd.PackCachedRecords', pack=dict(type='PackDetInputs'))
]
train_dataloader = dict(dataset=dict(dataset=dict(pipeline=train_pipeline)))

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=2.5e-5),
    paramwise_cfg=dict(custom_keys={'roi_head.bbox_head': dict(lr_mult=0.5)}))
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(
        type='MultiStepLR',
        begin=0,
        end=24,
        by_epoch=True,
        milestones=[16, 19],
        gamma=0.1)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=24, val_interval=4)
auto_scale_lr = dict(enable=False, base_batch_size=16)
randomness = dict(seed=3407)
