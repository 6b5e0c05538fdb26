# LPLD, VOC -> Watercolor2k: the source model adapted with unlabelled
# target images.
_base_ = [
    '../_base_/datasets/watercolor_sfda.py',
    '../_base_/schedules/lpld_sfda.py',
    'mmdet::_base_/default_runtime.py'
]
source = 'source_faster-rcnn_r50-caffe-c4_1x_voc2watercolor'
model = dict(
    type='mmkd.LPLDDetector',
    detector=dict(cfg_path='{{fileDirname}}/' + source + '.py'),
    # the VOC0712 model trained by the voc2clipart source config
    source_ckpt='work_dirs/source_faster-rcnn_r50-caffe-c4_1x_voc2clipart/'
    'epoch_12.pth')
