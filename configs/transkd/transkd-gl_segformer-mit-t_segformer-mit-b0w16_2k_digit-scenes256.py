# TransKD-GL: TransKD-Base with the GL-Mixer on the stage-4 embedding
# (configs/_base_/distill/transkd-gl_mit.py), from the DigitScenes MiT
# teacher (mit-t, B0-wide) into the half-width MiT-B0-shaped student
# (mit-b0w16) on whole 256x256 canvases (stage 4 is 8x8); the fragment's
# MiT-B2 -> B0 channels replaced by the pair's. docs/methods/transkd.md.
_base_ = ['./_base_/transkd-gl_digit-scenes256.py']
student_channels = [16, 32, 80, 128]
teacher_channels = [32, 64, 160, 256]
model = dict(
    losses=dict(
        hcl=dict(
            connector=dict(
                in_channels=student_channels,
                out_channels=teacher_channels)),
        pea=dict(
            connector=dict(
                in_channels=student_channels,
                out_channels=teacher_channels))))
