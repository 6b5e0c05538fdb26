# LPLD: the clean-DigitScenes detector adapted to the shifted domain from
# unlabelled target images (train the source model first).
_base_ = [
    '../_base_/datasets/digit_scenes-shifted_sfda.py',
    '../_base_/schedules/lpld_sfda.py', 'mmdet::_base_/default_runtime.py'
]
source = 'source_faster-rcnn_r18_fpn_3k_digit-scenes-clean2shifted'
model = dict(
    type='mmkd.LPLDDetector',
    detector=dict(cfg_path='{{fileDirname}}/' + source + '.py'),
    source_ckpt=f'work_dirs/{source}/iter_3000.pth')
# 5 epochs of the 800 target images at batch 4 (the official 10 epochs at
# batch 1 do not fit a CPU budget); the teacher keeps 0.75 ** 5 of the source
train_cfg = dict(max_epochs=5)
