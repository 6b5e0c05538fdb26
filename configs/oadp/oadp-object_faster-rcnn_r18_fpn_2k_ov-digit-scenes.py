# OADP's object distillation alone on open-vocabulary DigitScenes (ViLD-like:
# the object head's L1 to OAKE's object embeddings and the ensemble at
# test), without the block and global heads; everything else as the full
# DP student.
_base_ = './oadp_faster-rcnn_r18_fpn_2k_ov-digit-scenes.py'
model = dict(roi_head=dict(block_head=None), global_head=None)
custom_hooks = [
    dict(
        type='mmkd.DistillLossWeightHook',
        schedules=dict(
            clip_objects={{_base_.oadp_loss_schedules.clip_objects}}))
]
