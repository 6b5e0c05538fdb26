# Cityscapes (clear) cars as the target of Sim10k -> Cityscapes and
# KITTI -> Cityscapes: the same data/cityscape/VOC2007/ folder, splits
# train_s / test_s, every class but car left out on purpose.
_base_ = ['./foggy-cityscapes_sfda.py']

metainfo = dict(classes=('car', ))
train_dataloader = dict(
    dataset=dict(
        ann_file='VOC2007/ImageSets/Main/train_s.txt',
        metainfo=metainfo,
        unknown_classes='skip'))
val_dataloader = dict(
    dataset=dict(
        ann_file='VOC2007/ImageSets/Main/test_s.txt',
        metainfo=metainfo,
        unknown_classes='skip'))
test_dataloader = val_dataloader
