# X-Ray's baseline student on nuScenes: mmdet3d's CenterPoint
# (0.2 m pillars, circle NMS) unchanged. Its model-zoo
# weights (val mAP 48.70, NDS 59.62 in mmdet3d's metafile; trained
# with GT-sampling and CBGS) are the baseline:
#   python tools/test.py \
#       configs/xray/centerpoint_pillar02_second-secfpn_head-circlenms_20e_nus.py \
#       $ZOO_CHECKPOINT
_base_ = [
    'mmdet3d::centerpoint/'
    'centerpoint_pillar02_second_secfpn_head-circlenms'
    '_8xb4-cyclic-20e_nus-3d.py'
]

zoo_checkpoint = (
    'https://download.openmmlab.com/mmdetection3d/v1.0.0_models/'
    'centerpoint/'
    'centerpoint_02pillar_second_secfpn_circlenms_4x8_cyclic_20e_nus/'
    'centerpoint_02pillar_second_secfpn_circlenms_4x8_cyclic_20e'
    '_nus_20220811_031844-191a3822.pth')
