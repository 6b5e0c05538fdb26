# TransKD's DigitScenes pair, self-contained until the DigitScenes MiT
# configs (configs/digit_scenes/segformer_mit-t_2k_digit-scenes256.py and
# segformer_mit-b0w16_2k_digit-scenes256.py, written alongside) are merged;
# it mirrors them: a teacher whose MiT is B0-wide (mit-t: stages 32, 64,
# 160, 256, head 256) and a MiT-B0-shaped student at half its width
# (mit-b0w16: 16, 32, 80, 128, head 128), as B0 is to B2 in the paper, both
# with depths 2-2-2-2 and from scratch, background weight 0.1, AdamW 1e-3
# with weight decay 0.01 on the DigitScenes 2k schedule; whole 256x256
# canvases, so that stage 4 is 8x8 (at 128 px it is 4x4 and HCL's 4x4
# level is skipped).
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


def _segformer(embed_dims, head_channels):
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
            channels=head_channels,
            dropout_ratio=0.1,
            num_classes=11,
            norm_cfg=norm_cfg,
            align_corners=False,
            loss_decode=dict(
                type='CrossEntropyLoss',
                use_sigmoid=False,
                loss_weight=1.0,
                class_weight=[0.1] + [1.0] * 10)),
        train_cfg=dict(),
        test_cfg=dict(mode='whole'))


student_model = _segformer(16, 128)
teacher_model = _segformer(32, 256)
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
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.01))
