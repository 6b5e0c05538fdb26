# BEV feature mimicking on KITTI: PointPillars from mmdet3d's model zoo into a
# PointPillars whose BEV backbone is half as wide; a 1x1 conv connector maps
# the student's neck output (192 channels) to the teacher's (384).
_base_ = ['mmdet3d::pointpillars/pointpillars_hv_secfpn_8xb6-160e_kitti-3d-3class.py']  # noqa: E501

teacher_ckpt = 'https://download.openmmlab.com/mmdetection3d/v1.0.0_models/pointpillars/hv_pointpillars_secfpn_6x8_160e_kitti-3d-3class/hv_pointpillars_secfpn_6x8_160e_kitti-3d-3class_20220301_150306-37dc2420.pth'  # noqa: E501
student = _base_.model
student.backbone.out_channels = [32, 64, 128]
student.neck.in_channels = [32, 64, 128]
student.neck.out_channels = [64, 64, 64]
student.bbox_head.in_channels = 192
student.bbox_head.feat_channels = 192
model = dict(
    _delete_=True,
    type='mmkd.DistillModel',
    student=student,
    teacher=dict(
        cfg_path='mmdet3d::pointpillars/'
        'pointpillars_hv_secfpn_8xb6-160e_kitti-3d-3class.py'),
    teacher_ckpt=teacher_ckpt,
    taps=dict(student=dict(bev='neck'), teacher=dict(bev='neck')),
    connectors=dict(
        bev=dict(type='ConvConnector', in_channels=192, out_channels=384)),
    losses=dict(
        mse_bev=dict(
            type='MSEFeatureLoss', loss_weight=1.0, student='bev',
            teacher='bev')))
