# Copyright (c) mmkd contributors. All rights reserved.
"""LPLDDetector on tiny random Faster R-CNNs (FPN and C4): the step's
losses, mining, gradients and the no-pseudo-label case."""
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

from mmkd.registry import MODELS
from mmkd_testing import save_random_teacher

FPN = dict(
    cfg_path='mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
    backbone=dict(depth=18, init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=32),
    rpn_head=dict(in_channels=32, feat_channels=32),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=32),
        bbox_head=dict(in_channels=32, fc_out_channels=64, num_classes=3)))
C4 = dict(
    cfg_path='mmdet::faster_rcnn/faster-rcnn_r50-caffe_c4-1x_coco.py',
    backbone=dict(depth=18, init_cfg=None),
    rpn_head=dict(in_channels=256, feat_channels=64),
    roi_head=dict(
        shared_head=dict(depth=18, init_cfg=None),
        bbox_roi_extractor=dict(out_channels=256),
        bbox_head=dict(in_channels=512, num_classes=3)))
# random weights score every class about equally: accept every detection
# as a pseudo label and every proposal as an LPL, to exercise the step
OPEN = dict(hpl_score_thr=0.0,
            mining=dict(iou_thr=1.0, fg_score_thr=0.0, bg_score_thr=1.0))


def build(tmp_path, detector, **kwargs):
    kwargs.setdefault('allow_target_labels', True)
    ckpt = save_random_teacher(detector, str(tmp_path / 'source.pth'),
                               'mmdet')
    init_default_scope('mmkd')
    return MODELS.build(
        dict(type='LPLDDetector', detector=detector, source_ckpt=ckpt,
             num_teacher_proposals=20, **kwargs))


def batch(strong_noise=0.0, n=2, size=64):
    g = torch.Generator().manual_seed(0)
    weak = [torch.randint(0, 256, (3, size, size), generator=g).float()
            for _ in range(n)]
    strong = [w + strong_noise * torch.randn(w.shape, generator=g)
              for w in weak]
    samples = []
    for _ in range(n):
        sample = DetDataSample(metainfo=dict(
            img_shape=(size, size), ori_shape=(size, size),
            scale_factor=(1., 1.), batch_input_shape=(size, size)))
        # the target set's real labels, which must not be trained on
        sample.gt_instances = InstanceData(
            bboxes=torch.tensor([[0., 0., 63., 63.]]),
            labels=torch.tensor([2]))
        samples.append(sample)
    return dict(inputs=dict(unsup_teacher=weak, unsup_student=strong),
                data_samples=dict(unsup_teacher=samples,
                                  unsup_student=[s.clone() for s in samples]))


@pytest.mark.parametrize('detector', [FPN, C4], ids=['fpn', 'c4'])
def test_step_losses_and_gradients(tmp_path, detector):
    model = build(tmp_path, detector, **OPEN)
    model.train()
    data = model.data_preprocessor(batch(strong_noise=30.0), True)
    losses = model(**data, mode='loss')
    assert {'loss_rpn_cls', 'loss_cls', 'loss_lpld'} <= set(losses)
    assert losses['num_lpl'] > 0 and losses['num_hpl'] > 0
    # different views: the student's RoI features differ from the teacher's
    assert losses['loss_lpld'] > 0
    total = sum(v for k, v in losses.items() if 'loss' in k
                and isinstance(v, torch.Tensor))
    total.backward()
    assert all(p.grad is None for p in model.teacher.parameters())
    cls_head = model.student.roi_head.bbox_head.fc_cls
    assert cls_head.weight.grad.abs().sum() > 0
    assert not model.teacher.training  # test-time RPN for the teacher


def test_identical_views_give_zero_lpld(tmp_path):
    model = build(tmp_path, FPN, **OPEN)
    model.train()
    for module in model.student.modules():  # BN in eval: same features
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.eval()
    data = model.data_preprocessor(batch(strong_noise=0.0), True)
    losses = model(**data, mode='loss')
    assert losses['num_lpl'] > 0
    assert losses['loss_lpld'].abs() < 1e-6


def test_pseudo_labels_replace_the_target_labels(tmp_path):
    model = build(tmp_path, FPN, hpl_score_thr=0.2)
    data = model.data_preprocessor(batch(), True)
    teacher = model.teacher_outputs(data['inputs']['unsup_teacher'],
                                    data['data_samples']['unsup_teacher'])
    labelled = model.pseudo_labelled(data['data_samples']['unsup_student'],
                                     teacher['detections'])
    for sample, det in zip(labelled, teacher['detections']):
        keep = det.scores > 0.2
        torch.testing.assert_close(sample.gt_instances.bboxes,
                                   det.bboxes[keep])
    # the teacher's RPN gives at most num_teacher_proposals per image
    assert all(len(p) <= 20 for p in teacher['proposals'])


def test_no_pseudo_labels_no_lpld_term(tmp_path):
    model = build(tmp_path, FPN, hpl_score_thr=0.999)
    model.train()
    data = model.data_preprocessor(batch(strong_noise=30.0), True)
    losses = model(**data, mode='loss')
    assert losses['num_hpl'] == 0 and losses['num_lpl'] == 0
    assert losses['loss_lpld'] == 0
    assert torch.isfinite(losses['loss_cls'])


def test_bad_inputs(tmp_path):
    model = build(tmp_path, FPN)
    data = model.data_preprocessor(batch(), True)
    data['inputs'].pop('unsup_teacher')
    with pytest.raises(KeyError, match="needs the 'unsup_teacher' view"):
        model(**data, mode='loss')
    retina = dict(cfg_path='mmdet::retinanet/retinanet_r50_fpn_1x_coco.py',
                  backbone=dict(depth=18, init_cfg=None),
                  neck=dict(in_channels=[64, 128, 256, 512]))
    with pytest.raises(TypeError, match='two-stage detector'):
        build(tmp_path, retina)


def test_target_labels_refused_unless_allowed(tmp_path):
    model = build(tmp_path, FPN, allow_target_labels=False)
    data = model.data_preprocessor(batch(), True)
    with pytest.raises(ValueError, match='must not train on target labels'):
        model(**data, mode='loss')
    for sample in data['data_samples']['unsup_student']:
        del sample.gt_instances  # a pipeline without LoadAnnotations
    model(**data, mode='loss')


def test_source_checkpoint_of_other_classes(tmp_path):
    import copy
    ckpt = save_random_teacher(FPN, str(tmp_path / 'source.pth'), 'mmdet')
    five = copy.deepcopy(FPN)
    five['roi_head']['bbox_head']['num_classes'] = 5
    init_default_scope('mmkd')
    with pytest.raises(ValueError, match='has 3 classes .* the detector '
                       'config 5'):
        MODELS.build(dict(type='LPLDDetector', detector=five,
                          source_ckpt=ckpt))


class _CreatesFile:
    """Pickles as ``open(path, 'w')``: full unpickling creates ``path``."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, 'w'))


def test_source_checkpoint_loaded_weights_only(tmp_path, monkeypatch):
    """Both reads of ``source_ckpt`` pass ``weights_only=True`` explicitly:
    torch's TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD, which stands in for a torch
    whose default is False, does not change them."""
    import copy
    import os.path as osp
    import pickle
    import warnings
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    ckpt = save_random_teacher(FPN, str(tmp_path / 'source.pth'), 'mmdet')
    five = copy.deepcopy(FPN)
    five['roi_head']['bbox_head']['num_classes'] = 5
    init_default_scope('mmkd')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        with pytest.raises(ValueError, match='has 3 classes'):
            MODELS.build(dict(type='LPLDDetector', detector=five,
                              source_ckpt=ckpt))
    assert not [w for w in caught if 'forcing weights_only=False' in str(
        w.message)]
    marker = str(tmp_path / 'code_ran')
    evil = str(tmp_path / 'evil.pth')
    torch.save(dict(state_dict={}, meta=_CreatesFile(marker)), evil)
    with pytest.raises(pickle.UnpicklingError,
                       match=r"source_ckpt '.*evil\.pth' holds io\.open"):
        MODELS.build(dict(type='LPLDDetector', detector=FPN,
                          source_ckpt=evil))
    assert not osp.exists(marker)


def test_runner_epoch_with_mean_teacher_hook(tmp_path):
    """One epoch through Runner.from_cfg on unlabelled DigitScenes canvases:
    weak/strong views from MultiBranch, then the teacher is the per-epoch
    EMA (keep rate 0.75) of the source weights and the trained student."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    from mmkd.datasets import make_digit_scenes
    data_root = make_digit_scenes(str(tmp_path / 'data'), num_train=4,
                                  num_val=2, img_size=64)
    ckpt = save_random_teacher(FPN, str(tmp_path / 'source.pth'), 'mmdet')
    pack = dict(type='mmdet.PackDetInputs',
                meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                           'scale_factor'))
    cfg = Config(dict(
        default_scope='mmkd',
        model=dict(type='LPLDDetector', detector=FPN, source_ckpt=ckpt,
                   num_teacher_proposals=20, **OPEN),
        train_dataloader=dict(
            batch_size=2, num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False),
            dataset=dict(
                type='DigitScenesDetDataset', data_root=data_root,
                ann_file='annotations/instances_train.json',
                data_prefix=dict(img='img_dir/train/'),
                metainfo=dict(classes=('0', '1', '2')),
                pipeline=[
                    dict(type='mmdet.LoadImageFromFile'),
                    dict(type='mmdet.Resize', scale=(64, 64),
                         keep_ratio=True),
                    dict(type='mmdet.MultiBranch',
                         branch_field=['unsup_teacher', 'unsup_student'],
                         unsup_teacher=[pack],
                         unsup_student=[dict(type='LPLDStrongAugment'),
                                        pack]),
                ])),
        train_cfg=dict(type='EpochBasedTrainLoop', max_epochs=1),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01,
                                          momentum=0.9)),
        custom_hooks=[dict(type='MeanTeacherHook', keep_rate=0.75,
                           by_epoch=True)],
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1)),
        work_dir=str(tmp_path / 'work'),
        log_level='WARNING'))
    runner = Runner.from_cfg(cfg)
    model = runner.model
    name = 'roi_head.bbox_head.fc_cls.weight'
    source = dict(model.teacher.named_parameters())[name].clone()
    runner.train()
    assert runner.iter == 2
    student = dict(model.student.named_parameters())[name]
    teacher = dict(model.teacher.named_parameters())[name]
    assert not torch.equal(student, source)  # the student trained
    torch.testing.assert_close(teacher, 0.75 * source + 0.25 * student)
    assert runner.message_hub.get_scalar('train/loss_lpld').current() >= 0


def test_hpl_only_mean_teacher_baseline(tmp_path):
    model = build(tmp_path, FPN, distill_lpl=False, **OPEN)
    model.train()
    data = model.data_preprocessor(batch(strong_noise=30.0), True)
    losses = model(**data, mode='loss')
    assert 'loss_lpld' not in losses and 'num_lpl' not in losses
    assert losses['num_hpl'] > 0 and torch.isfinite(losses['loss_cls'])


def test_teacher_detections_equal_mmdet_predict(tmp_path):
    """The teacher's detections come from its one RoI forward and equal
    what mmdet's roi_head.predict gives."""
    model = build(tmp_path, FPN)
    data = model.data_preprocessor(batch(), True)
    weak, samples = (data['inputs']['unsup_teacher'],
                     data['data_samples']['unsup_teacher'])
    out = model.teacher_outputs(weak, samples)
    with torch.no_grad():
        feats = model.teacher.extract_feat(weak)
        ref = model.teacher.roi_head.predict(feats, out['proposals'],
                                             samples, rescale=False)
    for a, b in zip(out['detections'], ref):
        torch.testing.assert_close(a.bboxes, b.bboxes)
        torch.testing.assert_close(a.scores, b.scores)


def test_predict_on_teacher_or_student(tmp_path):
    """Validation and testing use the mean teacher by default (what
    mean-teacher adaptation reports); predict_on='student' the student."""
    model = build(tmp_path, FPN)
    with torch.no_grad():  # make the two models differ
        model.student.roi_head.bbox_head.fc_cls.bias[0] += 5.0
    model.eval()
    data = model.data_preprocessor(
        dict(inputs=batch()['inputs']['unsup_teacher'],
             data_samples=batch()['data_samples']['unsup_teacher']), False)
    with torch.no_grad():
        out = model(data['inputs'], data['data_samples'], mode='tensor')
        teacher = model.teacher(data['inputs'], data['data_samples'],
                                mode='tensor')
        student = model.student(data['inputs'], data['data_samples'],
                                mode='tensor')
        model.predict_on = 'student'
        out_student = model(data['inputs'], data['data_samples'],
                            mode='tensor')
    torch.testing.assert_close(out, teacher)
    torch.testing.assert_close(out_student, student)
    # the RoI head's class scores (the last output) differ
    assert not torch.equal(teacher[-1][0], student[-1][0])
    with pytest.raises(ValueError, match="predict_on must be 'teacher'"):
        build(tmp_path, FPN, predict_on='ema')
