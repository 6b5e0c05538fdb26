# Copyright (c) mmkd contributors. All rights reserved.
"""LPLDDetector on tiny random Faster R-CNNs (FPN and C4): the step's
losses, mining, gradients and the no-pseudo-label case."""
import os.path as osp

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


# a narrow FPN detector (ResNet-18 layout, 8 base channels) for the runs
# below, which need several steps
TINY = dict(
    cfg_path='mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
    backbone=dict(depth=18, base_channels=8, init_cfg=None),
    neck=dict(in_channels=[8, 16, 32, 64], out_channels=8),
    rpn_head=dict(in_channels=8, feat_channels=8),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=8),
        bbox_head=dict(in_channels=8, fc_out_channels=16, num_classes=3)))


def test_distill_controls_scale_and_switch_lpld(tmp_path):
    """LPLDDetector exposes the DistillControls protocol: 'lpld' scales
    loss_lpld; distill_enabled=False trains on the HPL alone."""
    from mmkd.models.distillers.protocol import has_distill_controls
    model = build(tmp_path, TINY, **OPEN)
    assert has_distill_controls(model)
    assert model.distill_loss_scales == {'lpld': 1.0}
    model.train()
    data = model.data_preprocessor(batch(strong_noise=30.0), True)

    def step():
        torch.manual_seed(0)  # the RoI sampler draws at random
        return model(**data, mode='loss')

    full = step()
    assert full['loss_lpld'] > 0
    model.distill_loss_scales['lpld'] = 0.25
    scaled = step()
    torch.testing.assert_close(scaled['loss_lpld'], 0.25 * full['loss_lpld'])
    torch.testing.assert_close(scaled['loss_cls'], full['loss_cls'])

    model.distill_enabled = False
    hpl = step()
    assert 'loss_lpld' not in hpl and 'num_lpl' not in hpl
    torch.testing.assert_close(hpl['loss_cls'], full['loss_cls'])
    assert hpl['num_hpl'] == full['num_hpl']
    model.distill_enabled = True
    assert 'loss_lpld' in model(**data, mode='loss')

    baseline = build(tmp_path, TINY, distill_lpl=False)
    assert baseline.distill_loss_scales == {}
    assert baseline.distill_enabled is False
    baseline.distill_enabled = False
    with pytest.raises(ValueError, match='distill_lpl=False'):
        baseline.distill_enabled = True


def _runner_cfg(tmp_path, max_iters, custom_hooks, work_dir='work'):
    from mmengine.config import Config

    from mmkd.datasets import make_digit_scenes
    data_root = make_digit_scenes(str(tmp_path / 'data'), num_train=4,
                                  num_val=2, img_size=32)
    ckpt = str(tmp_path / 'source.pth')
    if not osp.exists(ckpt):
        save_random_teacher(TINY, ckpt, 'mmdet')
    pack = dict(type='mmdet.PackDetInputs',
                meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                           'scale_factor'))
    return Config(dict(
        default_scope='mmkd',
        model=dict(type='LPLDDetector', detector=TINY, source_ckpt=ckpt,
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
                    dict(type='mmdet.MultiBranch',
                         branch_field=['unsup_teacher', 'unsup_student'],
                         unsup_teacher=[pack],
                         unsup_student=[dict(type='LPLDStrongAugment'),
                                        pack]),
                ])),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=max_iters),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01,
                                          momentum=0.9)),
        custom_hooks=[dict(type='MeanTeacherHook', momentum=0.5)] +
        list(custom_hooks),
        default_hooks=dict(
            logger=dict(type='LoggerHook', interval=1),
            checkpoint=dict(type='CheckpointHook', interval=2,
                            by_epoch=False)),
        log_processor=dict(by_epoch=False),
        randomness=dict(seed=0),
        work_dir=str(tmp_path / work_dir),
        log_level='WARNING'))


def test_schedules_drive_lpld(tmp_path):
    """DistillLossWeightHook scales the logged loss_lpld (factor 0 from
    iteration 1); StopDistillHook drops it from iteration 2 on."""
    from mmengine.runner import Runner
    hooks = [
        dict(type='DistillLossWeightHook',
             schedules=dict(lpld=dict(type='step', milestones=[1],
                                      gamma=0.0))),
        dict(type='StopDistillHook', stop_iter=2)
    ]
    runner = Runner.from_cfg(_runner_cfg(tmp_path, 3, hooks))
    runner.train()
    logged = list(runner.message_hub.get_scalar('train/loss_lpld').data[0])
    assert len(logged) == 2  # iteration 2 has no loss_lpld
    assert logged[0] > 0 and logged[1] == 0
    assert len(runner.message_hub.get_scalar('train/num_hpl').data[0]) == 3
    assert list(runner.message_hub.get_scalar(
        'train/distill.scale_lpld').data[0]) == [1.0, 0.0, 0.0]
    assert runner.model.distill_enabled is False


def test_teacher_outside_the_module_tree(tmp_path):
    """The mean teacher is frozen, in eval mode, moved with the model but
    not in parameters() or state_dict() (MeanTeacherHook saves it)."""
    model = build(tmp_path, TINY)
    assert not any(k.startswith('teacher.') for k in model.state_dict())
    student = {id(p) for p in model.student.parameters()}
    assert {id(p) for p in model.parameters()} == student
    assert not any(p.requires_grad for p in model.teacher.parameters())
    model.train()
    assert not model.teacher.training
    model.double()
    assert all(p.dtype == torch.float64 for p in model.teacher.parameters())


def _teacher_state(model):
    return {k: v.clone() for k, v in model.teacher.state_dict().items()}


def test_checkpoint_holds_the_teacher_once_and_resumes(tmp_path):
    from mmengine.runner import Runner
    from mmengine.runner.checkpoint import _load_checkpoint
    runner = Runner.from_cfg(_runner_cfg(tmp_path, 2, []))
    runner.train()
    saved = _teacher_state(runner.model)
    path = str(tmp_path / 'work' / 'iter_2.pth')
    ckpt = _load_checkpoint(path, map_location='cpu')
    assert not any(k.startswith('teacher.') for k in ckpt['state_dict'])
    assert ckpt['mean_teacher'].keys() == saved.keys()
    for key, value in saved.items():
        assert torch.equal(ckpt['mean_teacher'][key], value), key

    cfg = _runner_cfg(tmp_path, 3, [], work_dir='resumed')
    cfg.resume, cfg.load_from = True, path
    resumed = Runner.from_cfg(cfg)
    assert not torch.equal(  # a fresh model's teacher is the source
        resumed.model.teacher.state_dict()['rpn_head.rpn_cls.weight'],
        saved['rpn_head.rpn_cls.weight'])
    resumed.load_or_resume()
    assert resumed.iter == 2
    for key, value in _teacher_state(resumed.model).items():
        assert torch.equal(value, saved[key]), key
    resumed.train()
    assert resumed.iter == 3

    # load_from without resume (what tools/test.py does) restores it too
    cfg = _runner_cfg(tmp_path, 3, [], work_dir='loaded')
    cfg.load_from = path
    loaded = Runner.from_cfg(cfg)
    loaded.load_or_resume()
    for key, value in _teacher_state(loaded.model).items():
        assert torch.equal(value, saved[key]), key

    # tools/export_student.py writes the student of an LPLD checkpoint
    import importlib.util
    import sys
    from unittest import mock
    tool = osp.join(osp.dirname(osp.dirname(osp.dirname(
        osp.abspath(__file__)))), 'tools', 'export_student.py')
    spec = importlib.util.spec_from_file_location('export_student', tool)
    export = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(export)
    config, out = str(tmp_path / 'lpld.py'), str(tmp_path / 'student.pth')
    _runner_cfg(tmp_path, 3, []).dump(config)
    with mock.patch.object(sys, 'argv', ['export', config, path, out]):
        export.main()
    exported = torch.load(out)['state_dict']
    student = runner.model.student.state_dict()
    assert exported.keys() == student.keys()
    assert all(torch.equal(exported[k], student[k]) for k in student)


def test_resume_a_checkpoint_with_a_registered_teacher(tmp_path):
    """Checkpoints written while the teacher was a registered submodule
    (its weights under ``teacher.`` in the state dict and its parameters in
    the optimizer) still resume, and the teacher comes back."""
    from mmengine.runner import Runner
    from mmengine.runner.checkpoint import _load_checkpoint

    from mmkd.methods.lpld import LPLDDetector

    class LegacyLPLD(LPLDDetector):
        """The module tree of LPLDDetector before the teacher left it."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            teacher = self.__dict__.pop('teacher')
            modules = list(self._modules.items())
            self._modules.clear()
            for name, module in modules:  # registered after the student
                self._modules[name] = module
                if name == 'student':
                    self._modules['teacher'] = teacher

    MODELS.register_module('LegacyLPLD', module=LegacyLPLD, force=True)
    try:
        cfg = _runner_cfg(tmp_path, 2, [])
        cfg.model.type = 'LegacyLPLD'
        runner = Runner.from_cfg(cfg)
        runner.train()
    finally:
        MODELS.module_dict.pop('LegacyLPLD')
    saved = _teacher_state(runner.model)
    path = str(tmp_path / 'work' / 'iter_2.pth')
    ckpt = _load_checkpoint(path, map_location='cpu')
    assert any(k.startswith('teacher.') for k in ckpt['state_dict'])
    num_student = len(list(runner.model.student.parameters()))
    assert len(ckpt['optimizer']['param_groups'][0]['params']) == \
        2 * num_student

    cfg = _runner_cfg(tmp_path, 3, [], work_dir='resumed')
    cfg.resume, cfg.load_from = True, path
    resumed = Runner.from_cfg(cfg)
    resumed.load_or_resume()  # loads the optimizer of the student alone
    for key, value in _teacher_state(resumed.model).items():
        assert torch.equal(value, saved[key]), key
    resumed.train()
    assert resumed.iter == 3
    # the legacy keys also load outside the Runner (tools, inference)
    model = build(tmp_path, TINY)
    model.load_state_dict(ckpt['state_dict'], strict=True)
    for key, value in _teacher_state(model).items():
        assert torch.equal(value, saved[key]), key
