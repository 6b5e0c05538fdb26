# OADP's DP student on open-vocabulary DigitScenes (digits 0-6 base, 7-9
# novel): Faster R-CNN R18-FPN (the DigitScenes detector, from scratch)
# distilled from OAKE's CLIP embeddings of object proposals, blocks and the
# whole image (docs/methods/oadp.md). The heads, losses and ramps:
# _base_/models/oadp_dp.py.
#
# Before training:
# 1. the CLIP text embeddings of the ten digit names, in the dataset's class
#    order: `vild_embeddings` (ViLD's prompt ensemble, the bbox head) and
#    `ml_embeddings` (the other heads; its scale/bias, if any, set their
#    logits, else 100 and 0); DigitScenes' small CLIP teacher writes both
#    with its weights (docs/methods/oadp.md, "DigitScenes CLIP teacher"):
#    python tools/misc/train_digit_clip.py data/digit_scenes_ov
#    (CLIP = data/digit_scenes_ov/clip/clip_digits.pth below);
# 2. base-class proposals of the training images (`proposal_file`, format:
#    mmkd/methods/oadp/proposals.py), from the RPN of
#    proposals_faster-rcnn_r18_fpn_2k_ov-digit-scenes.py (commands there);
# 3. the OAKE caches of the training images:
#    python tools/misc/oadp_extract.py THIS_CONFIG --clip CLIP \
#        --proposals data/digit_scenes_ov/proposals/train.pkl \
#        --out data/digit_scenes_ov/oake/train
_base_ = [
    '../_base_/models/oadp_faster-rcnn_r18_fpn_digit_scenes.py',
    '../_base_/datasets/ov_digit_scenes_detection.py',
    '../_base_/schedules/digit_scenes_detection_2k.py'
]
data_root = 'data/digit_scenes_ov/'
classes = ('0', '1', '2', '3', '4', '5', '6', '7', '8', '9')
base_classes = ('0', '1', '2', '3', '4', '5', '6')
vild_embeddings = data_root + 'clip/text_embeddings_vild.pth'
ml_embeddings = data_root + 'clip/text_embeddings_ml.pth'
proposal_file = data_root + 'proposals/train.pkl'
oake_root = data_root + 'oake/train/'
img_scale = (224, 224)

# the text classifiers: ViLD's on the bbox head, OADP's on the others
vild_classifier = dict(
    type='mmkd.OADPViLDClassifier',
    embeddings=vild_embeddings,
    classes=classes,
    base_classes=base_classes)
ml_classifier = dict(
    type='mmkd.OADPClassifier',
    embeddings=ml_embeddings,
    classes=classes,
    base_classes=base_classes)
# the R18 detector's 256-d box head; the 4conv1fc heads' convs at the
# FPN's width (64), not mmdet's 256, whose convs on a batch's 1024 sampled
# RoIs and 800 object boxes took ~100 s an iteration on CPU
model = dict(
    roi_head=dict(
        bbox_head=dict(
            conv_out_channels=64, cls_predictor_cfg=vild_classifier),
        object_head=dict(
            conv_out_channels=64,
            fc_out_channels=256,
            cls_predictor_cfg=ml_classifier),
        block_head=dict(fc_out_channels=256, cls_predictor_cfg=ml_classifier)),
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
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='mmkd.PackCachedRecords', pack=dict(type='PackDetInputs'))
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_evaluator = dict(max_dets=300)
test_evaluator = val_evaluator

# the DigitScenes detector recipe (the schedule base), the bbox head at
# half the learning rate, as OADP
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'roi_head.bbox_head': dict(lr_mult=0.5)}))
