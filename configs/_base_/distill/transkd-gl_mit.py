# TransKD-GL (official train/CSF_GLMixer.py): TransKD-Base whose stage-4
# patch embedding goes through the Global-Local Mixer (MHSA with 8 heads and
# no qkv bias, plus a GLU along the tokens, e' = a * MHSA + b * GLU) before
# PEA's linear map. The reference leaves a and b uninitialised: they start
# at 1 here (attn_weight_init, glu_weight_init); `add=False` is the
# reference's default.
_base_ = ['./transkd-base_mit.py']
transkd_losses = dict(
    pea=dict(
        connector=dict(stage_connectors=[
            None, None, None,
            dict(
                type='mmkd.GLMixer',
                num_heads=8,
                add=False,
                attn_weight_init=1.0,
                glu_weight_init=1.0)
        ])))
