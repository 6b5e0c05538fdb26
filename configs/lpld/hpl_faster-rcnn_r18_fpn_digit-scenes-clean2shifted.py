# The mean-teacher baseline of the LPLD paper: the same adaptation trained on
# the high-confidence pseudo labels alone (no low-confidence distillation).
_base_ = ['./lpld_faster-rcnn_r18_fpn_digit-scenes-clean2shifted.py']
model = dict(distill_lpl=False)
