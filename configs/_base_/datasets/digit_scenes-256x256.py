# DigitScenes at 256 px, trained on whole canvases: a 256 px input keeps a
# stride-32 stage (MiT's stage 4) at 8x8, where the 128x128 crops of
# `digit_scenes-256.py` leave 4x4. Tested on the whole canvas, as there.
_base_ = ['./digit_scenes-256.py']

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='mmkd.CheckSegLabels', num_classes=11),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
