# TransKD-EA (official train/CSF_EA.py): TransKD-Base whose PEA embedding of
# each stage is fused with an Embedding Assistant, a learnable overlap patch
# embedding (7x7 stride 4 at stage 1, 3x3 stride 2 after) of what the
# student's patch embedding of that stage reads (the image, then the
# previous stage's output): w_i * PEA_i + w_(i+4) * EA_i with eight
# learnable weights starting at 0.1, ..., 0.8. The inputs are tapped with
# io='input' on the same PatchEmbed modules.
_base_ = ['./transkd-base_mit.py']
transkd_taps = dict(
    student={
        f'input{i + 1}': dict(path=f'backbone.layers.{i}.0', io='input')
        for i in range(4)
    })
transkd_losses = dict(
    pea=dict(
        student=[
            'embed1', 'embed2', 'embed3', 'embed4', 'input1', 'input2',
            'input3', 'input4'
        ],
        connector=dict(
            _delete_=True,
            type='mmkd.EmbeddingAssistant',
            in_channels={{_base_.transkd_student_channels}},
            out_channels={{_base_.transkd_teacher_channels}},
            image_channels=3,
            kernel_sizes=(7, 3, 3, 3),
            strides=(4, 2, 2, 2))))
