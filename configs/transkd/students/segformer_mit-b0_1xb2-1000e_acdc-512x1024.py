# TransKD's student alone on ACDC: SegFormer MiT-B0 from scratch under
# TransKD's protocol (see the Cityscapes config), the four conditions'
# train splits, scored on their val splits at a quarter of the input.
# Paper / official README: 46.26 mIoU (1/4-res protocol).
_base_ = [
    '../../_base_/models/segformer_mit-b0_transkd.py',
    '../../_base_/datasets/acdc-512x1024_transkd.py',
    '../../_base_/schedules/transkd_1000e.py',
    'mmseg::_base_/default_runtime.py'
]
