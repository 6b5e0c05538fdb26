# The two views of an unlabelled target image in source-free adaptation
# (LPLD): after the shared geometric pipeline the teacher sees the image as
# it is (weak view) and the student a photometrically distorted and erased
# copy (strong view); boxes stay aligned.
branch_meta_keys = ('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor')
target_views = dict(
    type='MultiBranch',
    branch_field=['unsup_teacher', 'unsup_student'],
    unsup_teacher=[dict(type='PackDetInputs', meta_keys=branch_meta_keys)],
    unsup_student=[
        dict(type='mmkd.LPLDStrongAugment'),
        dict(type='PackDetInputs', meta_keys=branch_meta_keys)
    ])
