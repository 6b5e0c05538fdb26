# Channel-wise distillation (Shu et al., ICCV 2021) of PSPNet-R101 into
# PSPNet-R18 on Cityscapes, both from mmseg's model zoo configs.
_base_ = ['mmseg::pspnet/pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py']

teacher_ckpt = 'https://download.openmmlab.com/mmsegmentation/v0.5/pspnet/pspnet_r101-d8_512x1024_80k_cityscapes/pspnet_r101-d8_512x1024_80k_cityscapes_20200606_112211-e1e1100f.pth'  # noqa: E501
model = dict(
    _delete_=True,
    type='mmkd.DistillModel',
    student={{_base_.model}},
    teacher=dict(
        cfg_path='mmseg::pspnet/pspnet_r101-d8_4xb2-80k_cityscapes-512x1024.py'
    ),
    teacher_ckpt=teacher_ckpt,
    taps=dict(
        student=dict(logits='decode_head.conv_seg'),
        teacher=dict(logits='decode_head.conv_seg')),
    losses=dict(
        cwd_logits=dict(
            type='ChannelWiseDivergence',
            tau=4.0,
            loss_weight=3.0,
            student='logits',
            teacher='logits')))
