# VOC -> Watercolor2k: data/watercolor/ in the VOC layout (train|test). The
# model keeps the 20 VOC classes; the test set holds 6 of them (bicycle,
# bird, car, cat, dog, person) and VOCMetric averages AP50 over the classes
# that have ground truth, i.e. those 6 (the papers' Watercolor mAP).
_base_ = ['./clipart_sfda.py']

data_root = 'data/watercolor/'
train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
