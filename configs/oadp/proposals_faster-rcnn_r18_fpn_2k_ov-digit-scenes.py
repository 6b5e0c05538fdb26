# OADP's base-class proposal network on open-vocabulary DigitScenes: the
# DigitScenes Faster R-CNN R18-FPN (from scratch) trained on the OV train
# split, whose annotations are the base digits 0-6 only (novel digits 7-9
# stay in the pixels, unannotated: the dataset refuses a split with novel
# annotations). Its RPN gives OAKE's object proposals (official OADP: OLN
# trained on the base classes):
#   python tools/train.py THIS_CONFIG --work-dir work_dirs/oadp_proposals
#   python tools/misc/oadp_proposals.py THIS_CONFIG \
#       work_dirs/oadp_proposals/iter_2000.pth \
#       --out data/digit_scenes_ov/proposals/train.pkl --num-proposals 20
# (the OADP config's proposal_file; keys: image paths relative to
# data_root; 20 per image instead of OLN's 1500: a canvas holds 1-5
# digits, OAKE embeds every proposal and the DP student each box).
# Validation: AP50 of the base digits (novel: ~0, never labelled).
_base_ = [
    '../_base_/models/faster-rcnn_r18_fpn_digit_scenes.py',
    '../_base_/datasets/ov_digit_scenes_detection.py',
    # the OADP student's recipe, without distillation
    '../_base_/schedules/digit_scenes_detection_2k.py'
]
