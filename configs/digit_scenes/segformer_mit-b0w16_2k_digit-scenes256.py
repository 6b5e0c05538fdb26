# The MiT student of the TransKD DigitScenes setting: MiT-B0-shaped (depths
# 2-2-2-2) at half the teacher's width (stages 16-32-80-128, as B0 is to B2),
# head 64 wide (half of stage 4, as in the base), from scratch (TransKD's
# student has no ImageNet weights); whole 256 px canvases, so stage 4 is
# 8x8, 4 per batch (half the FCNs' 8: whole canvases are 4x their crops).
# The background weight 0.1 of the DigitScenes students (see
# fcn_r18-w16_2k_digit-scenes256-128x128.py); AdamW at the FCNs' 2e-3 with
# weight decay 0.01 (a transformer from scratch; the FCNs' 1e-4) on the
# DigitScenes 2k schedule (warm-up, cosine), no stochastic depth (MiT's
# 0.1 slows learning from scratch on this small set). Tuning record:
# docs/methods/transkd.md.
_base_ = [
    '../_base_/models/segformer_mit_digit_scenes.py',
    '../_base_/datasets/digit_scenes-256x256.py',
    '../_base_/schedules/digit_scenes_2k.py',
    'mmseg::_base_/default_runtime.py'
]
train_dataloader = dict(batch_size=4)
optim_wrapper = dict(optimizer=dict(weight_decay=0.01))
model = dict(
    backbone=dict(embed_dims=16, drop_path_rate=0.0),
    decode_head=dict(
        in_channels=[16, 32, 80, 128],
        channels=64,
        loss_decode=dict(class_weight=[0.1] + [1.0] * 10)))
