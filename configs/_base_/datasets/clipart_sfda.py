# VOC -> Clipart1k: the 20 Pascal VOC classes; data/clipart/ in the VOC
# layout with ImageSets/Main/train|test. Training reads unlabelled clipart
# images as weak/strong views; evaluation is VOC07 11-point AP50 on test.
# `train_pipeline` is the labelled pipeline of the source model (VOC0712).
_base_ = ['./foggy-cityscapes_sfda.py']

data_root = 'data/clipart/'
metainfo = dict(
    classes=('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car',
             'cat', 'chair', 'cow', 'diningtable', 'dog', 'horse',
             'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train',
             'tvmonitor'))
train_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        ann_file='ImageSets/Main/train.txt',
        data_prefix=dict(sub_data_root=''),
        metainfo=metainfo))
val_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        ann_file='ImageSets/Main/test.txt',
        data_prefix=dict(sub_data_root=''),
        metainfo=metainfo))
test_dataloader = val_dataloader
