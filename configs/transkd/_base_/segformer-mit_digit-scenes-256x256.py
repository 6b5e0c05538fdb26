# TransKD's DigitScenes setting, self-contained until the DigitScenes MiT
# teacher and baseline configs (configs/digit_scenes/segformer_mit-s_* and
# segformer_mit-t_*) exist: a MiT-B0-sized student (mit-t: 32, 64, 160, 256
# channels, 2 blocks per stage) and a MiT-B1-sized teacher (mit-s: 64, 128,
# 320, 512, the channels of MiT-B2 and of the paper's teacher), both with
# SegFormer heads and from scratch, on whole 256x256 canvases so that stage
# 4 is 8x8 (at 128 px it is 4x4 and HCL's 4x4 level is skipped). The
# schedule is DigitScenes' 2k one, not yet checked to let a MiT learn.
_base_ = [
    '../../_base_/datasets/digit_scenes-256.py',
    '../../_base_/schedules/digit_scenes_2k.py',
    'mmseg::_base_/default_runtime.py'
]
norm_cfg = dict(type='BN', requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=(256, 256))


def _segformer(embed_dims):
    return dict(
        type='EncoderDecoder',
        data_preprocessor=data_preprocessor,
        backbone=dict(
            type='MixVisionTransformer',
            in_channels=3,
            embed_dims=embed_dims,
            num_stages=4,
            num_layers=[2, 2, 2, 2],
            num_heads=[1, 2, 5, 8],
            patch_sizes=[7, 3, 3, 3],
            sr_ratios=[8, 4, 2, 1],
            out_indices=(0, 1, 2, 3),
            mlp_ratio=4,
            qkv_bias=True,
            drop_rate=0.0,
            attn_drop_rate=0.0,
            drop_path_rate=0.1),
        decode_head=dict(
            type='SegformerHead',
            in_channels=[embed_dims * h for h in (1, 2, 5, 8)],
            in_index=[0, 1, 2, 3],
            channels=128,
            dropout_ratio=0.1,
            num_classes=11,
            norm_cfg=norm_cfg,
            align_corners=False,
            # background is 90% of a canvas, as in the FCN baselines
            loss_decode=dict(
                type='CrossEntropyLoss',
                use_sigmoid=False,
                loss_weight=1.0,
                class_weight=[0.1] + [1.0] * 10)),
        train_cfg=dict(),
        test_cfg=dict(mode='whole'))


student_model = _segformer(32)
teacher_model = _segformer(64)
model = student_model
# whole canvases: no crop
crop_size = (256, 256)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='mmkd.CheckSegLabels', num_classes=11),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=6e-4, weight_decay=0.01))
