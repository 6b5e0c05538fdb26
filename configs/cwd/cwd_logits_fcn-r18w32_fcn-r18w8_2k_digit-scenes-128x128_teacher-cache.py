# The CWD demo with cached teacher logits: build the cache once with
#   python tools/cache_teacher.py <this config> --out work_dirs/teacher_cache_cwd
# The photometric augmentation is dropped: a cache cannot key it.
_base_ = ['./cwd_logits_fcn-r18w32_fcn-r18w8_2k_digit-scenes-128x128.py']

train_dataloader = dict(
    dataset=dict(pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations'),
        dict(type='mmkd.CheckSegLabels', num_classes=11),
        dict(type='PackSegInputs')
    ]))
model = dict(teacher_cache='work_dirs/teacher_cache_cwd')
