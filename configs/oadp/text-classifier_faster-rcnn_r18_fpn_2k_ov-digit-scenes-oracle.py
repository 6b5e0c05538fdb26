# The oracle of OADP's DigitScenes benchmark: the text-classifier baseline
# trained with the novel digits' labels too (the generator's full
# annotations), so no class is masked: an upper bound on novel AP50 for
# this detector and recipe.
_base_ = './text-classifier_faster-rcnn_r18_fpn_2k_ov-digit-scenes.py'
model = dict(
    roi_head=dict(
        bbox_head=dict(
            cls_predictor_cfg=dict(base_classes={{_base_.classes}}))))
train_dataloader = dict(
    dataset=dict(
        ann_file='annotations/instances_train.json', check_no_novel=False))
