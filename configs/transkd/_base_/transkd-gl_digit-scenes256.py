# TransKD-GL: TransKD-Base with the GL-Mixer on the stage-4 embedding
# (../../_base_/distill/transkd-gl_mit.py) on the DigitScenes MiT pair;
# the configs above give the pair's channels.
_base_ = [
    '../../digit_scenes/segformer_mit-b0w16_2k_digit-scenes256.py',
    '../../_base_/distill/transkd-gl_mit.py'
]
model = dict(
    _delete_=True,
    type='mmkd.DistillModel',
    student={{_base_.model}},
    teacher=dict(cfg_path='{{fileDirname}}/../../digit_scenes/'
                 'segformer_mit-t_4k_digit-scenes256.py'),
    teacher_ckpt='work_dirs/segformer_mit-t_4k_digit-scenes256/'
    'iter_4000.pth',
    taps={{_base_.transkd_taps}},
    losses={{_base_.transkd_losses}})
