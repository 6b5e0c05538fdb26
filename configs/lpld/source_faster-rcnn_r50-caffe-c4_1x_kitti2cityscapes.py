# The source model of KITTI -> Cityscapes (car): trained on the labelled
# KITTI cars (data/kitti/VOC2012/, trainval, PNG images), validated on
# Cityscapes test_s (the source-only baseline).
_base_ = ['./source_faster-rcnn_r50-caffe-c4_1x_sim10k2cityscapes.py']
train_dataloader = dict(
    dataset=dict(data_root='data/kitti/', img_suffix='.png'))
