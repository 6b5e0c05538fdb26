# OADP's DP student on OV-COCO 48/17 (docs/methods/oadp.md): Faster R-CNN
# R50-FPN distilled from OAKE's CLIP ViT-B/32 embeddings of base-class
# proposals, blocks and the whole image; official configs/dp/
# oadp_ov_coco.py: 40k iterations, SGD 0.02, weight decay 2.5e-5, step at
# 30k. The heads, losses and ramps: _base_/models/oadp_dp.py.
#
# Before training (data/coco with COCO 2017):
# 1. the split: python tools/dataset_converters/ov_split.py coco data/coco
#    (annotations/instances_{train2017_ov_base,val2017_ov_all}.json and
#    ov_split.json, which names the classifiers' classes);
# 2. the text embeddings of the 65 classes in the split's order
#    (tools/misc/clip_text_embeddings.py): `vild_embeddings` (ViLD's prompt
#    ensemble, the bbox head) and `ml_embeddings` (OADP's ml_coco.pth: the
#    other heads, with its scale and bias);
# 3. base-class proposals of the training images (`proposal_file`;
#    tools/misc/oadp_proposals.py with a detector trained on the base
#    split, or OLN's converted to mmkd/methods/oadp/proposals.py's format);
# 4. the OAKE caches: python tools/misc/oadp_extract.py THIS_CONFIG \
#        --clip ViT-B/32 --proposals data/coco/proposals/train.pkl \
#        --out data/coco/oake/train2017 --device cuda
# Differences from official main: the backbone starts from mmdet's
# ImageNet R50 (pytorch style), not SoCo's Mask R-CNN (load_from
# soco_star_mask_rcnn_r50_fpn_400e.pth, caffe style); fp32, not fp16.
_base_ = [
    '../_base_/models/oadp_faster-rcnn_r50_fpn.py',
    '../_base_/datasets/ov_coco_detection.py',
    'mmdet::_base_/default_runtime.py'
]
data_root = 'data/coco/'
ov_split = data_root + 'annotations/ov_split.json'
vild_embeddings = data_root + 'clip/text_embeddings_vild.pth'
ml_embeddings = data_root + 'clip/text_embeddings_ml.pth'
proposal_file = data_root + 'proposals/train.pkl'
oake_root = data_root + 'oake/train2017/'

# the text classifiers: ViLD's (temperature 0.007 train, 0.01 test) on the
# bbox head, OADP's on the others; classes from the split
vild_classifier = dict(
    type='mmkd.OADPViLDClassifier',
    embeddings=vild_embeddings,
    ov_split=ov_split,
    train_temperature=0.007,
    test_temperature=0.01)
ml_classifier = dict(
    type='mmkd.OADPClassifier', embeddings=ml_embeddings, ov_split=ov_split)
model = dict(
    neck=dict(norm_cfg=dict(type='SyncBN', requires_grad=True)),
    roi_head=dict(
        bbox_head=dict(
            num_classes=65,
            norm_cfg=dict(type='SyncBN', requires_grad=True),
            cls_predictor_cfg=vild_classifier),
        # main builds it on the bbox head's settings: SyncBN too
        object_head=dict(
            norm_cfg=dict(type='SyncBN', requires_grad=True),
            cls_predictor_cfg=ml_classifier),
        block_head=dict(cls_predictor_cfg=ml_classifier)),
    global_head=dict(classifier=ml_classifier))

# OAKE's records, keyed by the image path relative to data_root; boxes
# follow the resize and flip, embeddings stay the unflipped image's
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='mmkd.LoadOAKERecords',
        oake_root=oake_root,
        proposal_file=proposal_file,
        data_root=data_root),
    # mmdet 2's multiscale_mode='range' of official main
    dict(
        type='RandomResize', scale=[(1330, 640), (1333, 800)],
        keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='mmkd.PackCachedRecords', pack=dict(type='PackDetInputs'))
]
train_dataloader = dict(
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(pipeline=train_pipeline))
# 300 detections per image, as OADP evaluates them
val_evaluator = dict(max_dets=300)
test_evaluator = val_evaluator

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=2.5e-5),
    # the bbox head at half the learning rate, as OADP
    paramwise_cfg=dict(custom_keys={'roi_head.bbox_head': dict(lr_mult=0.5)}))
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(
        type='MultiStepLR',
        by_epoch=False,
        begin=0,
        end=40000,
        milestones=[30000],
        gamma=0.1)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=40000, val_interval=2000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# 8 GPUs x 2 images
auto_scale_lr = dict(enable=False, base_batch_size=16)
randomness = dict(seed=3407)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=2000))
log_processor = dict(by_epoch=False)
