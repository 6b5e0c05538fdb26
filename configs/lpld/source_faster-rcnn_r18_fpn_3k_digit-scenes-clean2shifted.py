# The source model of the DigitScenes adaptation: Faster R-CNN R18-FPN
# trained on the labelled clean domain, validated on the shifted domain
# (the source-only baseline).
_base_ = [
    '../_base_/models/faster-rcnn_r18_fpn_digit_scenes.py',
    '../_base_/datasets/digit_scenes-shifted_sfda.py',
    '../_base_/schedules/digit_scenes_detection_2k.py'
]
train_dataloader = dict(
    batch_size=8,
    sampler=dict(_delete_=True, type='InfiniteSampler', shuffle=True),
    dataset=dict(
        data_root='data/digit_scenes/',
        generate_cfg=dict(domain='clean'),
        pipeline={{_base_.train_pipeline}}))
# the DigitScenes detector recipe (the schedule base) over 3k iterations
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
         end=200),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=False, begin=200,
         end=3000)
]
train_cfg = dict(max_iters=3000)
