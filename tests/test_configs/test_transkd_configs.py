# Copyright (c) mmkd contributors. All rights reserved.
"""TransKD's teachers and students (configs/transkd/{teachers,students})
and the protocol they share: each config trains 2 iterations and runs a
validation on a stand-in written in its dataset's own folder layout (the
model zoo is out of reach: random weights; the URLs stay in the configs);
the protocol's pieces (schedule, class weights, preprocessor, quarter-
resolution scoring) are checked against the official values."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import PARAM_SCHEDULERS, init_default_scope
from mmengine.runner import Runner
from mmkd_testing import ROOT
from mmseg_standins import (config_datasets, shrink_seg_config, write_acdc,
                            write_cityscapes)

from mmkd.evaluation import IoUMetric
from mmkd.models.losses import ClassWeightedCrossEntropyLoss
from mmkd.models.segmentors import CoarseLabelEncoderDecoder
from mmkd.registry import MODELS

TRANSKD = osp.join(ROOT, 'configs', 'transkd')
STUDENT = 'students/segformer_mit-b0_1xb2-1000e_cityscapes-512x1024'
ZOO_TEACHER = 'teachers/segformer_mit-b2_8xb1-160k_cityscapes-512x1024'
ACDC_STUDENT = 'students/segformer_mit-b0_1xb2-1000e_acdc-512x1024'
CONFIGS = {
    STUDENT: write_cityscapes,
    ACDC_STUDENT: write_acdc,
    ZOO_TEACHER: write_cityscapes,
    'teachers/segformer_mit-b2_1xb8-1000e_cityscapes-512x1024':
    write_cityscapes,
    'teachers/segformer_mit-b2_1xb8-1000e_acdc-512x1024': write_acdc,
}
#: the official scripts' ERFNet weights of train ids 0-18
ERFNET = [
    2.5959737, 6.741505, 3.5353868, 9.866315, 9.690922, 9.369371, 10.289124,
    9.953209, 4.3098087, 9.490392, 7.674411, 9.396925, 10.347794, 6.3928986,
    10.226673, 10.241072, 10.28059, 10.396977, 10.05567
]
MIT_URL = ('https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/'
           'segformer/mit_b{}_20220624-')
SMALL = (64, 128)


def load(name):
    return Config.fromfile(osp.join(TRANSKD, f'{name}.py'))


def shrink(cfg, data_root):
    """The config's own transforms and padding, at a small scale."""
    shrink_seg_config(cfg, data_root, SMALL)
    cfg.model.data_preprocessor.size = SMALL


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_config_trains_and_validates_on_standin(name, tmp_path):
    cfg = load(name)
    backbone = cfg.model.backbone
    if 'mit-b2' in name:
        # ImageNet weights (mmseg's MiT-B2 checkpoint), not loadable here
        assert backbone.init_cfg.checkpoint.startswith(MIT_URL.format(2))
        backbone.init_cfg = None
    else:
        assert backbone.get('init_cfg') is None  # from scratch
    CONFIGS[name](str(tmp_path / 'data'))
    shrink(cfg, str(tmp_path / 'data'))
    cfg.train_dataloader.batch_size = 2
    # replaced, not merged: the protocol's loop counts epochs
    cfg.train_cfg = dict(
        type='IterBasedTrainLoop', max_iters=2, val_interval=2)
    cfg.merge_from_dict({
        'default_hooks.logger.interval': 1,
        'work_dir': str(tmp_path / 'work'),
        'log_level': 'WARNING',
    })
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=100)
    runner = Runner.from_cfg(cfg)
    runner.train()
    hub = runner.message_hub
    assert runner.iter == 2
    assert torch.isfinite(
        torch.tensor(hub.get_scalar('train/decode.loss_ce').current()))
    assert 0 <= hub.get_info('val/mIoU', hub.get_scalar('val/mIoU')
                             ).current() <= 100
    protocol = name != ZOO_TEACHER
    assert isinstance(runner.model, CoarseLabelEncoderDecoder) == protocol
    metrics = runner.val_evaluator.metrics
    scales = [getattr(m, 'label_scale', 1) for m in metrics]
    assert scales == ([0.25] if protocol else [1, 0.25])
    if not protocol:
        assert 0 <= hub.get_scalar('val/quarter/mIoU').current() <= 100


@pytest.mark.parametrize('base', [STUDENT, ACDC_STUDENT])
def test_imagenet_variant_differs_only_by_backbone_init(base):
    """The student with mmseg's MiT-B0 ImageNet weights (official issue
    #2); otherwise the (trained above) student from scratch."""
    scratch = load(base).to_dict()
    pretrained = load(base + '_imagenet-pretrained').to_dict()
    init = pretrained['model']['backbone'].pop('init_cfg')
    assert init['type'] == 'Pretrained'
    assert init['checkpoint'].startswith(MIT_URL.format(0))
    assert init['checkpoint'] == pretrained.pop('checkpoint')
    assert pretrained == scratch


def test_acdc_reads_four_conditions_train_ids_only(tmp_path):
    """mmseg's CityscapesDataset in ACDC's layout: the four conditions'
    images of one split with their train-id maps; not the reference
    images, the other label maps or the unlabelled test split."""
    init_default_scope('mmseg')
    from mmseg.registry import DATASETS
    write_acdc(str(tmp_path), num=2)
    cfg = load('students/segformer_mit-b0_1xb2-1000e_acdc-512x1024')
    for split, key in (('train', 'train_dataloader'),
                       ('val', 'val_dataloader')):
        for d in config_datasets(cfg[key]):
            d.data_root = str(tmp_path)
        dataset = DATASETS.build(cfg[key].dataset)
        assert len(dataset) == 8
        infos = [dataset.get_data_info(i) for i in range(8)]
        conds = sorted({i['img_path'].split(osp.sep)[-4] for i in infos})
        assert conds == ['fog', 'night', 'rain', 'snow']
        for info in infos:
            assert f'{osp.sep}{split}{osp.sep}' in info['img_path']
            assert info['img_path'].endswith('_rgb_anon.png')
            assert info['seg_map_path'].endswith('_gt_labelTrainIds.png')
            assert osp.exists(info['seg_map_path'])
        assert dataset.metainfo['classes'][-1] == 'bicycle'


@pytest.mark.parametrize('name,write', [(STUDENT, write_cityscapes),
                                         (ACDC_STUDENT, write_acdc)])
def test_label_ids_instead_of_train_ids_are_refused(name, write, tmp_path):
    """Label-id maps (values up to 33) where train ids belong: training
    would fail later naming no file, and mmseg's IoUMetric would drop the
    pixels silently; the datasets' mmkd.CheckSegLabels names the file, in
    training and in validation."""
    import cv2
    init_default_scope('mmseg')
    from mmseg.registry import DATASETS
    write(str(tmp_path))
    cfg = load(name)
    for key in ('train_dataloader', 'val_dataloader'):
        pipeline = config_datasets(cfg[key])[0].pipeline
        types = [t['type'] for t in pipeline]
        check = pipeline[types.index('LoadAnnotations') + 1]
        assert check == dict(type='mmkd.CheckSegLabels', num_classes=19)
        assert check['num_classes'] == cfg.model.decode_head.num_classes
        for d in config_datasets(cfg[key]):
            d.data_root = str(tmp_path)
        dataset = DATASETS.build(cfg[key].dataset)
        dataset[0]  # train ids pass
        seg_map = dataset.get_data_info(0)['seg_map_path']
        labels = cv2.imread(seg_map, cv2.IMREAD_UNCHANGED)
        labels[0, 0] = 33
        cv2.imwrite(seg_map, labels)
        with pytest.raises(ValueError,
                           match=rf"'{seg_map}' has label values \[33\] "
                           r'outside 0-18'):
            dataset[0]


def test_lr_schedule_ends_near_2e5_as_official():
    """PolyLR (power 1) over a 1500-epoch horizon, stepped per epoch, 1000
    epochs trained; the official PolynomialLRDecay is one step ahead."""
    cfg = load(STUDENT)
    assert cfg.train_cfg.type == 'EpochBasedTrainLoop'
    assert cfg.train_cfg.max_epochs == 1000
    assert cfg.train_dataloader.batch_size == 2
    assert cfg.optim_wrapper.optimizer == dict(
        type='AdamW', lr=6e-5, betas=(0.9, 0.999), eps=1e-8,
        weight_decay=0.01)
    assert 'paramwise_cfg' not in cfg.optim_wrapper
    optim = build_optim_wrapper(torch.nn.Linear(2, 2), cfg.optim_wrapper)
    schedulers = [
        PARAM_SCHEDULERS.build(dict(s, optimizer=optim))
        for s in cfg.param_scheduler
    ]
    lrs = []
    for _ in range(cfg.train_cfg.max_epochs):
        lrs.append(optim.get_lr()['lr'][0])  # the lr the epoch runs at
        for s in schedulers:
            s.step()  # ParamSchedulerHook, after each epoch
    # official: PolynomialLRDecay steps once when built, so epoch e runs at
    # 6e-5 * (1 - (e + 1) / 1500), the last at 2e-5; mmengine's PolyLR
    # decays to 0 at its last step (end - 1 = 1499), so epoch e runs at
    # 6e-5 * (1 - e / 1499): the same line scaled by 1500 / 1499
    official = [6e-5 * (1 - (e + 1) / 1500) for e in range(1000)]
    assert lrs[0] == pytest.approx(6e-5)
    assert official[-1] == pytest.approx(2e-5)
    assert lrs[-1] == pytest.approx(6e-5 * 500 / 1499, rel=1e-6)
    assert lrs[-1] == pytest.approx(2e-5, rel=0.001)
    for ours, theirs in zip(lrs, official):
        assert ours == pytest.approx(theirs * 1500 / 1499, rel=1e-6)


def test_erfnet_class_weights_loaded():
    cfg = load(STUDENT)
    init_default_scope('mmseg')
    model = MODELS.build(cfg.model)
    loss = model.decode_head.loss_decode
    assert isinstance(loss, ClassWeightedCrossEntropyLoss)
    assert loss.class_weight == pytest.approx(ERFNET)
    # the official criterion: 20 classes, ignored pixels relabelled 19
    # with weight 0, NLLLoss (a 20th logit far below the others stands for
    # the official model's, which the weight 0 never trains)
    torch.manual_seed(0)
    logits = torch.randn(2, 19, 4, 8)
    label = torch.randint(0, 19, (2, 4, 8))
    label[:, 0] = 255
    logits20 = torch.cat([logits, torch.full((2, 1, 4, 8), -1e4)], 1)
    official = torch.nn.NLLLoss(torch.tensor(ERFNET + [0.0]))(
        logits20.log_softmax(1), torch.where(label == 255, 19, label))
    assert loss(logits, label, ignore_index=255).item() == pytest.approx(
        official.item(), rel=1e-5)


def test_no_normalisation_preprocessor():
    """RGB scaled to [0, 1], as torchvision's ToTensor: no mean/std."""
    cfg = load(STUDENT)
    init_default_scope('mmseg')
    model = MODELS.build(cfg.model)
    bgr = torch.randint(0, 256, (3, 512, 1024), dtype=torch.uint8)
    out = model.data_preprocessor(dict(inputs=[bgr]), False)['inputs']
    assert torch.allclose(out[0], bgr.flip(0).float() / 255)


def test_zoo_teacher_reads_the_students_input():
    """The zoo teacher's 1024x1024 padding and slide test are overridden:
    whole 512x1024 images as the student's, its own normalisation."""
    teacher, student = load(ZOO_TEACHER), load(STUDENT)
    assert teacher.teacher_ckpt.endswith(
        'segformer_mit-b2_8x1_1024x1024_160k_cityscapes_20211207_134205-'
        '6096669a.pth')
    assert teacher.model.test_cfg == dict(mode='whole')
    assert teacher.model.data_preprocessor.size == (512, 1024)
    assert student.model.data_preprocessor.size == (512, 1024)
    assert teacher.model.data_preprocessor.std == [58.395, 57.12, 57.375]
    assert teacher.test_pipeline == student.test_pipeline
    assert teacher.model.backbone.embed_dims == 64
    assert teacher.model.decode_head.channels == 256  # the zoo's head
    protocol_teacher = load(
        'teachers/segformer_mit-b2_1xb8-1000e_cityscapes-512x1024')
    assert protocol_teacher.model.decode_head.channels == 768  # official
    assert protocol_teacher.train_dataloader.batch_size == 8
    metric = IoUMetric(**{
        k: v
        for k, v in student.val_evaluator.items() if k != 'type'
    })
    assert metric.label_scale == 0.25


DIGIT = osp.join(ROOT, 'configs', 'digit_scenes')


def test_digit_scenes_mit_pair():
    """The CPU setting of TransKD's benchmark: a MiT teacher and a
    MiT-B0-shaped student half as wide, on whole 256 px canvases, so that
    stage 4 is 8x8 (HCL's 4-2-1 pyramid fits); mmseg's mIoU and the mean
    Boundary IoU; the teacher trains twice the student's schedule, its
    cosine decay stretched to match."""
    init_default_scope('mmseg')
    shapes, ends = {}, {}
    for name in ('segformer_mit-t_4k_digit-scenes256',
                 'segformer_mit-b0w16_2k_digit-scenes256'):
        cfg = Config.fromfile(osp.join(DIGIT, f'{name}.py'))
        assert cfg.val_evaluator.type == 'mmkd.BoundaryIoUMetric'
        assert all(t['type'] != 'RandomCrop'
                   for t in cfg.train_dataloader.dataset.pipeline)
        assert cfg.train_dataloader.dataset.generate_cfg.img_size == 256
        model = MODELS.build(cfg.model).eval()
        with torch.no_grad():
            feats = model.extract_feat(torch.zeros(1, 3, 256, 256))
        shapes[name.split('_')[1]] = [tuple(f.shape[1:]) for f in feats]
        ends[name.split('_')[1]] = (cfg.train_cfg.max_iters,
                                    cfg.param_scheduler[-1].end)
    assert ends == {'mit-t': (4000, 4000), 'mit-b0w16': (2000, 2000)}
    assert shapes['mit-t'] == [(32, 64, 64), (64, 32, 32), (160, 16, 16),
                               (256, 8, 8)]
    assert shapes['mit-b0w16'] == [(c // 2, h, w)
                                   for c, h, w in shapes['mit-t']]
