# TransKD-Base: CSF + HCL on the stages, PEA on the patch embeddings
# (../_base_/distill/transkd-base_mit.py), from the DigitScenes MiT teacher
# (mit-s, MiT-B2's channels) into the MiT-B0-sized student (mit-t) on whole
# 256x256 canvases (stage 4 is 8x8). docs/methods/transkd.md.
_base_ = [
    './_base_/segformer-mit_digit-scenes-256x256.py',
    '../_base_/distill/transkd-base_mit.py'
]

model = dict(
    _delete_=True,
    type='mmkd.DistillModel',
    student={{_base_.student_model}},
    teacher={{_base_.teacher_model}},
    teacher_ckpt='work_dirs/segformer_mit-s_2k_digit-scenes-256x256/'
    'iter_2000.pth',
    taps={{_base_.transkd_taps}},
    losses={{_base_.transkd_losses}})
