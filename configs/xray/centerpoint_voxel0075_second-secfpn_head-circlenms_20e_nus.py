# X-Ray's baseline student on nuScenes: mmdet3d's CenterPoint
# (0.075 m voxels, sparse 3D encoder, circle NMS) unchanged. Its model-zoo
# weights (val mAP 56.54, NDS 65.17 in mmdet3d's metafile; trained
# with GT-sampling and CBGS) are the baseline:
#   python tools/test.py \
#       configs/xray/centerpoint_voxel0075_second-secfpn_head-circlenms_20e_nus.py \
#       $ZOO_CHECKPOINT
_base_ = [
    'mmdet3d::centerpoint/'
    'centerpoint_voxel0075_second_secfpn_head-circlenms'
    '_8xb4-cyclic-20e_nus-3d.py'
]

zoo_checkpoint = (
    'https://download.openmmlab.com/mmdetection3d/v1.0.0_models/'
    'centerpoint/'
    'centerpoint_0075voxel_second_secfpn_circlenms_4x8_cyclic_20e_nus/'
    'centerpoint_0075voxel_second_secfpn_circlenms_4x8_cyclic'
    '_20e_nus_20220810_011659-04cb3a3b.pth')
