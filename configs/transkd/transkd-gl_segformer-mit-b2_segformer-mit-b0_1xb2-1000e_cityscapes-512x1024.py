# TransKD-GL: TransKD-Base with the GL-Mixer on the stage-4 patch embedding
# (../_base_/distill/transkd-gl_mit.py), from SegFormer MiT-B2 into a MiT-B0
# student from scratch on Cityscapes under TransKD's protocol
# (configs/transkd/students/). The teacher is mmseg's model-zoo B2
# (teachers/segformer_mit-b2_8xb1-160k_*: whole 512x1024 input as the
# student's, its own normalisation, the zoo's checkpoint). Paper (1/4-res
# protocol): teacher 76.49, B0 55.86, Base 68.58, GL 68.87, EA 68.98 mIoU.
# The teacher trained under the protocol instead (the official setting;
# train it first):
#   --cfg-options model.teacher.cfg_path=configs/transkd/teachers/segformer_mit-b2_1xb8-1000e_cityscapes-512x1024.py model.teacher_ckpt=work_dirs/segformer_mit-b2_1xb8-1000e_cityscapes-512x1024/epoch_1000.pth  # noqa: E501
_base_ = [
    './students/segformer_mit-b0_1xb2-1000e_cityscapes-512x1024.py',
    '../_base_/distill/transkd-gl_mit.py'
]
model = dict(
    _delete_=True,
    type='mmkd.DistillModel',
    student={{_base_.model}},
    teacher=dict(cfg_path='{{fileDirname}}/teachers/'
                 'segformer_mit-b2_8xb1-160k_cityscapes-512x1024.py'),
    teacher_ckpt='https://download.openmmlab.com/mmsegmentation/v0.5/segformer/segformer_mit-b2_8x1_1024x1024_160k_cityscapes/segformer_mit-b2_8x1_1024x1024_160k_cityscapes_20211207_134205-6096669a.pth',  # noqa: E501
    taps={{_base_.transkd_taps}},
    losses={{_base_.transkd_losses}})
