# LPLD, Sim10k -> Cityscapes (car): the source model adapted with unlabelled
# target images.
_base_ = [
    '../_base_/datasets/cityscapes-car_sfda.py',
    '../_base_/schedules/lpld_sfda.py',
    'mmdet::_base_/default_runtime.py'
]
source = 'source_faster-rcnn_r50-caffe-c4_1x_sim10k2cityscapes'
model = dict(
    type='mmkd.LPLDDetector',
    detector=dict(cfg_path='{{fileDirname}}/' + source + '.py'),
    source_ckpt='work_dirs/' + source + '/epoch_12.pth')
