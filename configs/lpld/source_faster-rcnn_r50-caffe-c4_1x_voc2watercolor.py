# The source model of VOC -> Watercolor2k: the VOC0712 model of
# voc2clipart (one training serves both), validated on Watercolor2k test.
_base_ = ['./source_faster-rcnn_r50-caffe-c4_1x_voc2clipart.py']
val_dataloader = dict(dataset=dict(data_root='data/watercolor/'))
test_dataloader = val_dataloader
