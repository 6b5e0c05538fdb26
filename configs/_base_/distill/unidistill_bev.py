# UniDistill taps on mmkd.BEVDetector: the encoder BEV map of each modality
# (feature distillation), the BEV neck (relation) and the CenterHead
# (response). A method config picks the student's and the teacher's, e.g.
# taps=dict(student={{_base_.camera_taps}}, teacher={{_base_.lidar_taps}}).
lidar_taps = dict(bev='pts_middle_encoder', neck='pts_neck', head='bbox_head')
camera_taps = dict(bev='view_transform', neck='pts_neck', head='bbox_head')
fusion_taps = dict(bev='fusion_layer', neck='pts_neck', head='bbox_head')
