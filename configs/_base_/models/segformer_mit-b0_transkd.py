# SegFormer MiT-B0 (mmseg's `_base_/models/segformer_mit-b0.py`, from
# scratch) under TransKD's protocol (official train/train_*.py):
# - no mean/std normalisation: RGB scaled to [0, 1] (torchvision's
#   ToTensor), padded to 512x1024 with 0 (ignored labels);
# - the loss on the stride-4 logits against labels nearest-downsampled to
#   their grid (mmkd.CoarseLabelEncoderDecoder), not on upsampled logits;
# - cross-entropy with ERFNet's Cityscapes class weights (used for ACDC
#   too), averaged over the weights of the pixels that count, as
#   torch.nn.NLLLoss(weight) (mmkd.ClassWeightedCrossEntropyLoss);
# - BN in the head (one GPU, batch 2), as the official head's linear_fuse.
_base_ = 'mmseg::_base_/models/segformer_mit-b0.py'

# ERFNet's Cityscapes weights for train ids 0-18 (road ... bicycle); the
# official scripts give the ignore class (255 -> 19) weight 0
erfnet_class_weight = [
    2.5959737, 6.741505, 3.5353868, 9.866315, 9.690922, 9.369371, 10.289124,
    9.953209, 4.3098087, 9.490392, 7.674411, 9.396925, 10.347794, 6.3928986,
    10.226673, 10.241072, 10.28059, 10.396977, 10.05567
]
norm_cfg = dict(type='BN', requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[0.0, 0.0, 0.0],
    std=[255.0, 255.0, 255.0],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=(512, 1024))
model = dict(
    type='mmkd.CoarseLabelEncoderDecoder',
    data_preprocessor=data_preprocessor,
    decode_head=dict(
        norm_cfg=norm_cfg,
        loss_decode=dict(
            _delete_=True,
            type='mmkd.ClassWeightedCrossEntropyLoss',
            class_weight=erfnet_class_weight)))
