# OADP on OV-COCO as the official code runs it: the multi-label losses'
# warm-ups never advance (`main` steps only its distiller's losses, todd
# 0.3.0), so the block and global multi-label weights stay 16 / 1000 and
# 4 / 2000 for all 40k iterations (docs/methods/oadp.md, "Differences from
# the official code"); everything else as the default config.
_base_ = './oadp_faster-rcnn_r50_fpn_40k_ov-coco.py'
custom_hooks = [
    dict(
        type='mmkd.DistillLossWeightHook',
        schedules={{_base_.oadp_faithful_mll_schedules}})
]
