# TransKD's student alone: SegFormer MiT-B0 from scratch (no ImageNet
# weights, the official default `--student-pretrained False` of the
# distillation scripts) under TransKD's protocol on Cityscapes: whole
# 512x1024 images, no normalisation, ERFNet-weighted CE on the stride-4
# logits, AdamW 6e-5, batch 2, 1000 of 1500 poly epochs, mIoU at a quarter
# of the input. Paper / official README: 55.86 mIoU (1/4-res protocol).
# The official baseline script (train/train_student.py) defaults differ
# (batch 4, 500 epochs, ImageNet weights on); this config uses the
# distillation runs' settings so that student and distilled students
# differ only by the distillation.
_base_ = [
    '../../_base_/models/segformer_mit-b0_transkd.py',
    '../../_base_/datasets/cityscapes-512x1024_transkd.py',
    '../../_base_/schedules/transkd_1000e.py',
    'mmseg::_base_/default_runtime.py'
]
