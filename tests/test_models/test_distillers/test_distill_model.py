# Copyright (c) mmkd contributors. All rights reserved.
import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseDataPreprocessor, BaseModel
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.structures import BaseDataElement

from mmkd.models.distillers import DistillModel
from mmkd.registry import MODELS


class ToySegmentor(BaseModel):
    """conv backbone -> 1x1 head; CE loss against ``gt`` of data samples."""

    def __init__(self, width=4, num_classes=3, data_preprocessor=None):
        super().__init__(data_preprocessor=data_preprocessor)
        self.backbone = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width),
            nn.ReLU())
        self.neck = nn.Conv2d(width, width, 1)
        self.head = nn.Conv2d(width, num_classes, 1)
        self.aux_head = nn.Conv2d(width, num_classes, 1)  # never called

    def forward(self, inputs, data_samples=None, mode='tensor'):
        if isinstance(inputs, list):  # BaseDataPreprocessor does not stack
            inputs = torch.stack(inputs)
        levels = (self.neck(self.backbone(inputs)), )
        levels = levels + (F.avg_pool2d(levels[0], 2), )
        # the head is shared by both levels, as in mmdet's dense heads
        logits = [self.head(level) for level in levels][0]
        if mode == 'loss':
            gt = torch.stack([s.gt for s in data_samples])
            return dict(loss_ce=F.cross_entropy(logits, gt))
        if mode == 'predict':
            return [BaseDataElement(pred=p) for p in logits.argmax(1)]
        return logits


@pytest.fixture(autouse=True)
def toy_registry():
    init_default_scope('mmkd')
    MODELS.register_module('ToySegmentor', module=ToySegmentor, force=True)
    yield
    MODELS.module_dict.pop('ToySegmentor')


def make_batch(n=2, size=8, num_classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return dict(
        inputs=[torch.rand(3, size, size, generator=g) for _ in range(n)],
        data_samples=[
            BaseDataElement(
                gt=torch.randint(num_classes, (size, size), generator=g))
            for _ in range(n)
        ])


def save_teacher(tmp_path, width=8, name='teacher.pth'):
    teacher = ToySegmentor(width=width)
    for p in teacher.parameters():
        nn.init.normal_(p, std=0.5)
    path = str(tmp_path / name)
    torch.save(dict(state_dict=teacher.state_dict(), meta={}), path)
    return teacher, path


def distill_cfg(teacher_ckpt, student_width=4, teacher_width=8, **kwargs):
    cfg = dict(
        type='DistillModel',
        student=dict(type='ToySegmentor', width=student_width),
        teacher=dict(type='ToySegmentor', width=teacher_width),
        teacher_ckpt=teacher_ckpt,
        taps=dict(
            student=dict(logits='head', feat='neck'),
            teacher=dict(logits='head', feat='neck')),
        losses=dict(
            kl_logits=dict(
                type='KLDivergence', tau=2.0, student='logits',
                teacher='logits')))
    cfg.update(kwargs)
    return cfg


def feature_cfg(teacher_ckpt, **kwargs):
    """Neck features mimicked through a 4 -> 8 channel connector."""
    return distill_cfg(
        teacher_ckpt,
        losses=dict(mse=dict(
            type='MSEFeatureLoss', student='feat', teacher='feat')),
        connectors=dict(feat=dict(
            type='ConvConnector', in_channels=4, out_channels=8)),
        **kwargs)


def test_teacher_out_of_state_dict_optimizer_and_grad(tmp_path):
    _, ckpt = save_teacher(tmp_path)
    model = MODELS.build(distill_cfg(ckpt))
    assert not any(k.startswith('teacher') for k in model.state_dict())
    assert all(k.startswith(('student.', 'data_preprocessor.'))
               for k in model.state_dict())
    optim = build_optim_wrapper(
        model, dict(optimizer=dict(type='SGD', lr=0.1)))
    optim_params = {id(p) for g in optim.param_groups for p in g['params']}
    assert not optim_params & {id(p) for p in model.teacher.parameters()}
    assert optim_params == {id(p) for p in model.parameters()}

    model.train()
    assert model.student.training and not model.teacher.training
    data = model.data_preprocessor(make_batch(), True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_ce', 'distill.loss_kl_logits'}
    sum(losses.values()).backward()
    assert all(p.grad is not None
               for n, p in model.student.named_parameters()
               if not n.startswith('aux_head'))
    assert all(p.grad is None for p in model.teacher.parameters())
    assert not any(p.requires_grad for p in model.teacher.parameters())


def test_teacher_loaded_strictly_and_frozen_train_step(tmp_path):
    teacher, ckpt = save_teacher(tmp_path)
    model = MODELS.build(distill_cfg(ckpt))
    for k, v in teacher.state_dict().items():
        assert torch.equal(model.teacher.state_dict()[k], v)
    optim = build_optim_wrapper(
        model, dict(optimizer=dict(type='SGD', lr=0.1)))
    before = copy.deepcopy(model.teacher.state_dict())
    student_before = copy.deepcopy(model.student.state_dict())
    log_vars = model.train_step(make_batch(), optim)
    assert 'distill.loss_kl_logits' in log_vars
    for k, v in model.teacher.state_dict().items():
        # BN running stats included: eval mode keeps them
        assert torch.equal(v, before[k]), k
    assert not torch.equal(model.student.head.weight,
                           student_before['head.weight'])


def test_taps_freed_after_loss_and_unused_outside_loss(tmp_path):
    _, ckpt = save_teacher(tmp_path)
    model = MODELS.build(distill_cfg(ckpt))
    data = model.data_preprocessor(make_batch(), True)
    model(**data, mode='loss')
    for taps in (model.student_taps, model.teacher_taps):
        assert all(not buf for buf in taps._buffers.values())
    # predict / tensor run the student without filling the taps
    preds = model(**data, mode='predict')
    assert len(preds) == 2 and preds[0].pred.shape == (8, 8)
    assert torch.equal(
        model(data['inputs'], mode='tensor'), model.student(data['inputs']))
    assert all(not buf for buf in model.student_taps._buffers.values())


def test_teacher_stops_after_last_tap(tmp_path):
    _, ckpt = save_teacher(tmp_path)
    cfg = feature_cfg(
        ckpt,
        taps=dict(student=dict(feat='neck'), teacher=dict(feat='neck')))
    model = MODELS.build(cfg)
    head_calls = []
    model.teacher.head.register_forward_hook(
        lambda *args: head_calls.append(1))
    data = model.data_preprocessor(make_batch(), True)
    model(**data, mode='loss')  # the first forward learns the call counts
    assert len(head_calls) == 2
    model(**data, mode='loss')
    model(**data, mode='loss')
    assert len(head_calls) == 2, 'the teacher ran past its last tap'


def test_connector_trained_and_saved(tmp_path):
    _, ckpt = save_teacher(tmp_path)
    cfg = feature_cfg(ckpt)
    model = MODELS.build(cfg)
    assert any(
        k.startswith('distiller.connectors.feat.') for k in model.state_dict())
    data = model.data_preprocessor(make_batch(), True)
    losses = model(**data, mode='loss')
    losses['distill.loss_mse'].backward()
    assert model.connectors.feat.conv.conv.weight.grad is not None


def test_shape_mismatch_without_connector(tmp_path):
    _, ckpt = save_teacher(tmp_path)
    cfg = distill_cfg(
        ckpt,
        losses=dict(mse=dict(
            type='MSEFeatureLoss', student='feat', teacher='feat')))
    model = MODELS.build(cfg)
    data = model.data_preprocessor(make_batch(), True)
    with pytest.raises(ValueError,
                       match=r"'feat' has shape \(2, 4, 8, 8\).*"
                       r"\(2, 8, 8, 8\).*ConvConnector.*in_channels=4, "
                       r'out_channels=8'):
        model(**data, mode='loss')


def test_tuple_taps_with_per_level_connectors(tmp_path):
    """A tap of a module called twice yields a tuple; losses sum levels."""
    _, ckpt = save_teacher(tmp_path, width=4)
    cfg = distill_cfg(
        ckpt,
        teacher_width=4,
        taps=dict(
            student=dict(levels=dict(path='head', io='input')),
            teacher=dict(levels=dict(path='head', io='input'))),
        losses=dict(mse=dict(
            type='MSEFeatureLoss', student='levels', teacher='levels')))
    model = MODELS.build(cfg)
    data = model.data_preprocessor(make_batch(), True)
    inputs = torch.stack(data['inputs'])
    s_feats = model.student.neck(model.student.backbone(inputs))
    with torch.no_grad():
        t_feats = model.teacher.neck(model.teacher.backbone(inputs))
    losses = model(**data, mode='loss')
    expected = F.mse_loss(s_feats, t_feats) + F.mse_loss(
        F.avg_pool2d(s_feats, 2), F.avg_pool2d(t_feats, 2))
    torch.testing.assert_close(losses['distill.loss_mse'], expected)


def test_loss_scale_and_stop(tmp_path):
    _, ckpt = save_teacher(tmp_path)
    model = MODELS.build(distill_cfg(ckpt))
    data = model.data_preprocessor(make_batch(), True)
    full = model(**data, mode='loss')['distill.loss_kl_logits']
    model.distill_loss_scales['kl_logits'] = 0.25
    scaled = model(**data, mode='loss')['distill.loss_kl_logits']
    torch.testing.assert_close(scaled, full * 0.25)
    model.distill_enabled = False
    assert set(model(**data, mode='loss')) == {'loss_ce'}


def test_teacher_own_data_preprocessor(tmp_path):
    _, ckpt = save_teacher(tmp_path)
    student_pp = dict(type='BaseDataPreprocessor')
    teacher_pp = dict(type='ImgDataPreprocessor', mean=[0.5] * 3,
                      std=[0.25] * 3)
    cfg = distill_cfg(ckpt)
    cfg['student']['data_preprocessor'] = student_pp
    cfg['teacher']['data_preprocessor'] = teacher_pp
    model = MODELS.build(cfg)
    batch = make_batch()
    data = model.data_preprocessor(batch, True)
    raw = torch.stack(batch['inputs'])
    torch.testing.assert_close(torch.stack(list(data['inputs'])), raw)
    torch.testing.assert_close(data['teacher_inputs'], (raw - 0.5) / 0.25)
    # no teacher inputs outside training, nor when both are alike
    assert 'teacher_inputs' not in model.data_preprocessor(batch, False)
    cfg['teacher']['data_preprocessor'] = student_pp
    model = MODELS.build(cfg)
    assert 'teacher_inputs' not in model.data_preprocessor(batch, True)


def test_teacher_own_preprocessor_pads_as_in_training(tmp_path):
    """mmseg's SegDataPreProcessor pads to ``size`` in training mode only:
    the teacher's own preprocessor runs in that mode, so an image smaller
    than the crop reaches both models padded alike; on copies of the data
    samples (the student's labels and meta stay its own) and without the
    teacher's batch augmentations."""
    from mmseg.structures import SegDataSample
    from mmengine.structures import PixelData
    _, ckpt = save_teacher(tmp_path)
    seg_pp = dict(type='mmseg.SegDataPreProcessor', size=(12, 12),
                  pad_val=0, seg_pad_val=255)
    cfg = distill_cfg(ckpt)
    cfg['student']['data_preprocessor'] = dict(seg_pp, mean=[0.] * 3,
                                               std=[1.] * 3)
    cfg['teacher']['data_preprocessor'] = dict(seg_pp, mean=[0.5] * 3,
                                               std=[0.25] * 3)
    model = MODELS.build(cfg)
    model.teacher.data_preprocessor.batch_augments = \
        lambda inputs, samples: (inputs + 100, samples)
    raw = [torch.rand(3, 8, 10) for _ in range(2)]
    samples = [
        SegDataSample(gt_sem_seg=PixelData(
            data=torch.zeros(1, 8, 10, dtype=torch.long))) for _ in raw
    ]
    data = model.data_preprocessor(dict(inputs=raw, data_samples=samples),
                                   True)
    teacher = data['teacher_inputs']
    assert teacher.shape == data['inputs'].shape == (2, 3, 12, 12)
    torch.testing.assert_close(teacher[:, :, :8, :10],
                               (torch.stack(raw) - 0.5) / 0.25)
    assert teacher[:, :, 8:].abs().sum() == 0  # padded, not augmented
    for sample in data['data_samples']:
        assert sample.gt_sem_seg.shape == (12, 12)  # the student's padding
        assert tuple(sample.padding_size) == (0, 2, 0, 4)


def test_to_moves_teacher_and_deepcopy_shares_it(tmp_path):
    _, ckpt = save_teacher(tmp_path)
    model = MODELS.build(distill_cfg(ckpt))
    model.to(torch.float64)
    assert model.teacher.head.weight.dtype == torch.float64
    assert model.student.head.weight.dtype == torch.float64
    clone = copy.deepcopy(model)
    assert clone.teacher is model.teacher
    assert clone.student is not model.student


def test_tap_that_did_not_fire(tmp_path):
    _, ckpt = save_teacher(tmp_path)
    cfg = distill_cfg(
        ckpt,
        taps=dict(
            student=dict(logits='aux_head'), teacher=dict(logits='head')))
    model = MODELS.build(cfg)
    data = model.data_preprocessor(make_batch(), True)
    with pytest.raises(RuntimeError,
                       match="student tap\\(s\\) 'logits' did not fire.*"
                       'aux_head'):
        model(**data, mode='loss')
    assert all(not buf for buf in model.student_taps._buffers.values())


def test_tap_path_typo_suggests_close_names(tmp_path):
    _, ckpt = save_teacher(tmp_path)
    cfg = distill_cfg(
        ckpt,
        taps=dict(student=dict(logits='haed'), teacher=dict(logits='head')))
    with pytest.raises(ValueError,
                       match="student tap 'logits'.*no module 'haed'.*"
                       'closest existing: head'):
        MODELS.build(cfg)


def test_loss_reads_missing_tap(tmp_path):
    _, ckpt = save_teacher(tmp_path)
    cfg = distill_cfg(
        ckpt,
        losses=dict(kl=dict(
            type='KLDivergence', student='logit', teacher='logits')))
    with pytest.raises(KeyError,
                       match="reads student tap 'logit', which no tap "
                       "provides; did you mean 'logits'"):
        MODELS.build(cfg)
    cfg['losses'] = dict(kl=dict(type='KLDivergence', teacher='logits'))
    with pytest.raises(KeyError, match="needs student=<tap name>"):
        MODELS.build(cfg)


def test_unknown_keys_suggest_close_match(tmp_path):
    _, ckpt = save_teacher(tmp_path)
    cfg = distill_cfg(ckpt)
    cfg['teacher_ckp'] = cfg.pop('teacher_ckpt')
    with pytest.raises(TypeError,
                       match="unknown key 'teacher_ckp'; did you mean "
                       "'teacher_ckpt'"):
        MODELS.build(cfg)
    cfg = distill_cfg(ckpt, taps=dict(studnet=dict(), teacher=dict()))
    with pytest.raises(KeyError, match="did you mean 'student'"):
        MODELS.build(cfg)
    cfg = distill_cfg(ckpt)
    cfg['losses']['kl_logits']['temperature'] = 2.0
    with pytest.raises(TypeError, match="distill loss 'kl_logits'.*"
                       'temperature'):
        MODELS.build(cfg)


def test_teacher_checkpoint_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        MODELS.build(distill_cfg(str(tmp_path / 'missing.pth')))
    with pytest.raises(ValueError, match='teacher_ckpt is required'):
        MODELS.build(distill_cfg(None))
    # a checkpoint of another architecture: shapes and keys listed
    _, ckpt = save_teacher(tmp_path, width=16, name='wide.pth')
    with pytest.raises(RuntimeError,
                       match=r"(?s)wide\.pth.*does not match.*size mismatch"
                       r'.*backbone\.0\.weight'):
        MODELS.build(distill_cfg(ckpt))
    state = ToySegmentor(width=8).state_dict()
    state['extra.weight'] = torch.zeros(1)
    del state['head.bias']
    torch.save(dict(state_dict=state), str(tmp_path / 'keys.pth'))
    with pytest.raises(RuntimeError,
                       match=r'(?s)Missing key.*head\.bias.*Unexpected key'
                       r'.*extra\.weight'):
        MODELS.build(distill_cfg(str(tmp_path / 'keys.pth')))


def test_top_level_data_preprocessor(tmp_path):
    _, ckpt = save_teacher(tmp_path)
    cfg = distill_cfg(ckpt)
    cfg['data_preprocessor'] = dict(type='BaseDataPreprocessor')
    model = MODELS.build(cfg)
    assert isinstance(model.student.data_preprocessor, BaseDataPreprocessor)
    # the same preprocessor inherited through an `mmseg::` base carries a
    # `_scope_` key: still the same
    cfg['student']['data_preprocessor'] = dict(type='BaseDataPreprocessor')
    cfg['data_preprocessor'] = dict(
        type='BaseDataPreprocessor', _scope_='mmengine')
    MODELS.build(cfg)
    cfg['student']['data_preprocessor'] = dict(
        type='ImgDataPreprocessor', mean=[0.] * 3, std=[1.] * 3)
    with pytest.raises(ValueError, match='differs from the student'):
        MODELS.build(cfg)


def test_no_losses_is_an_error(tmp_path):
    _, ckpt = save_teacher(tmp_path)
    with pytest.raises(ValueError, match='at least one entry in `losses`'):
        MODELS.build(distill_cfg(ckpt, losses=dict()))


def test_mmkd_scope_prefix_from_other_scope(tmp_path):
    """``type='mmkd.DistillModel'`` builds under another default scope."""
    _, ckpt = save_teacher(tmp_path)
    init_default_scope('mmseg')
    cfg = distill_cfg(ckpt)
    cfg['type'] = 'mmkd.DistillModel'
    cfg['student']['type'] = 'mmkd.ToySegmentor'
    cfg['teacher']['type'] = 'mmkd.ToySegmentor'
    model = MODELS.build(cfg)
    assert isinstance(model, DistillModel)


@pytest.mark.parametrize('dtype,torch_dtype', [('bf16', torch.bfloat16),
                                               ('fp16', torch.float16)])
def test_reduced_precision_teacher(tmp_path, dtype, torch_dtype):
    _, ckpt = save_teacher(tmp_path)
    full = MODELS.build(distill_cfg(ckpt))
    half = MODELS.build(distill_cfg(ckpt, teacher_dtype=dtype))
    half.student.load_state_dict(full.student.state_dict())
    assert half.teacher.head.weight.dtype == torch_dtype
    assert full.teacher.head.weight.dtype == torch.float32
    data = full.data_preprocessor(make_batch(), True)
    feats = half.distiller.teacher_forward(torch.stack(data['inputs']), None)
    assert all(f.dtype == torch.float32 for f in feats['logits'])
    loss_full = full(**data, mode='loss')['distill.loss_kl_logits']
    loss_half = half(**data, mode='loss')['distill.loss_kl_logits']
    assert loss_half.dtype == torch.float32
    torch.testing.assert_close(loss_half, loss_full, rtol=0.1, atol=1e-3)
    assert not torch.equal(loss_half, loss_full)  # it did run in low precision


def test_bad_teacher_dtype(tmp_path):
    _, ckpt = save_teacher(tmp_path)
    with pytest.raises(ValueError, match="teacher_dtype must be one of.*"
                       "'float16'"):
        MODELS.build(distill_cfg(ckpt, teacher_dtype='float16'))


def test_no_tapped_tensor_survives_the_step(tmp_path):
    """After a train step nothing holds the tapped tensors any more."""
    import gc
    import weakref
    _, ckpt = save_teacher(tmp_path)
    model = MODELS.build(feature_cfg(ckpt))
    optim = build_optim_wrapper(
        model, dict(optimizer=dict(type='SGD', lr=0.1)))
    refs = []
    for net in (model.student, model.teacher):
        net.neck.register_forward_hook(
            lambda m, a, out: refs.append(weakref.ref(out)))
    for _ in range(2):  # the second step runs the teacher with early stop
        model.train_step(make_batch(), optim)
    gc.collect()
    assert len(refs) == 4
    assert all(ref() is None for ref in refs)


def test_failure_after_the_last_tap_on_the_first_forward(tmp_path):
    """What runs after the last tap is never used: an error there on the
    first (call-counting) forward is reported, later forwards stop early;
    an error before a tap fired propagates."""
    _, ckpt = save_teacher(tmp_path)
    cfg = feature_cfg(
        ckpt,
        taps=dict(student=dict(feat='neck'), teacher=dict(feat='neck')))
    model = MODELS.build(cfg)

    def fail(*args):
        raise ValueError('unsupported after the taps')

    handle = model.teacher.head.register_forward_pre_hook(fail)
    data = model.data_preprocessor(make_batch(), True)
    for _ in range(2):
        losses = model(**data, mode='loss')
        assert losses['distill.loss_mse'] > 0
    handle.remove()

    model = MODELS.build(
        distill_cfg(
            ckpt,
            taps=dict(student=dict(logits='head'),
                      teacher=dict(logits='head'))))
    model.teacher.head.register_forward_pre_hook(fail)
    with pytest.raises(ValueError, match='unsupported after the taps'):
        model(**data, mode='loss')


def test_teacher_preprocessor_that_breaks_tap_shapes(tmp_path):
    """A teacher preprocessor padding to 16 while the student's does not: the
    first step names both tap shapes and the teacher's input shape."""
    _, ckpt = save_teacher(tmp_path)
    cfg = distill_cfg(ckpt)
    cfg['student']['data_preprocessor'] = dict(type='ImgDataPreprocessor')
    cfg['teacher']['data_preprocessor'] = dict(
        type='ImgDataPreprocessor', pad_size_divisor=16)
    model = MODELS.build(cfg)
    data = model.data_preprocessor(make_batch(size=8), True)
    with pytest.raises(
            ValueError,
            match=r"student tap 'logits' has shape \(2, 3, 8, 8\) but teacher"
            r" tap 'logits' has shape \(2, 3, 16, 16\).*teacher ran on inputs"
            r" of shape \(2, 3, 16, 16\).*data_preprocessor"):
        model(**data, mode='loss')


def test_taps_keep_what_a_module_returned():
    from mmkd.models.distillers.taps import FeatureTaps

    class Head(nn.Module):

        def forward(self, x):
            return (dict(heatmap=x), )

    class Net(nn.Module):

        def __init__(self):
            super().__init__()
            self.head = Head()

        def forward(self, x):
            out = self.head(x)
            # as mmdet3d's CenterHead.loss_by_feat does to its predictions
            out[0]['heatmap'] = out[0]['heatmap'].sigmoid()
            return out

    net = Net()
    taps = FeatureTaps(net, dict(head='head'))
    x = torch.randn(3)
    assert torch.equal(net(x)[0]['heatmap'], x.sigmoid())
    assert torch.equal(taps.pop()['head'][0]['heatmap'], x)


class SequenceLoss(nn.Module):
    """Takes whole tap sequences; refuses teachers wider than 8 at build."""
    takes_sequences = True
    requires_same_shape = False
    seen = []

    def check_models(self, name, student, teacher, student_tap, teacher_tap,
                     connector):
        SequenceLoss.seen.append((name, student_tap['path'],
                                  teacher_tap['path'], connector))
        if teacher.head.out_channels != 3:
            raise ValueError(f'{name}: teacher head is not 3 classes')

    def forward(self, student, teacher):
        assert isinstance(student, tuple) and len(student) == 2
        return sum(s.sum() - t.sum() for s, t in zip(student, teacher)) * 0


def test_losses_may_take_sequences_and_check_the_models(tmp_path):
    MODELS.register_module('SequenceLoss', module=SequenceLoss, force=True)
    try:
        _, ckpt = save_teacher(tmp_path)
        SequenceLoss.seen.clear()
        cfg = distill_cfg(
            ckpt,
            # the shared head runs on both levels: a 2-tuple per step
            taps=dict(student=dict(h='head'), teacher=dict(h='head')),
            losses=dict(seq=dict(type='SequenceLoss', student='h',
                                 teacher='h')))
        model = MODELS.build(cfg)
        assert SequenceLoss.seen == [('seq', 'head', 'head', None)]
        losses = model(**model.data_preprocessor(make_batch(), True),
                       mode='loss')
        assert 'distill.loss_seq' in losses
        cfg['teacher'] = dict(type='ToySegmentor', width=8, num_classes=4)
        _, ckpt4 = save_teacher(tmp_path, name='t4.pth')
        teacher4 = ToySegmentor(width=8, num_classes=4)
        torch.save(dict(state_dict=teacher4.state_dict()), ckpt4)
        cfg['teacher_ckpt'] = ckpt4
        with pytest.raises(ValueError, match='seq: teacher head is not 3'):
            MODELS.build(cfg)
    finally:
        MODELS.module_dict.pop('SequenceLoss')


def test_eval_only_needs_no_teacher(tmp_path):
    """``eval_only=True`` builds the student and the connectors (the
    checkpoint's keys match exactly) without building or loading the
    teacher; predictions are the trained model's, ``loss`` refuses."""
    _, ckpt = save_teacher(tmp_path)
    trained = MODELS.build(feature_cfg(ckpt))
    for p in trained.parameters():
        nn.init.normal_(p, std=0.5)
    built = []
    MODELS.register_module(
        'CountedSegmentor',
        module=lambda **kw: built.append(1) or ToySegmentor(**kw),
        force=True)
    try:
        cfg = feature_cfg(str(tmp_path / 'no_such_teacher.pth'),
                          eval_only=True)
        cfg['teacher']['type'] = 'CountedSegmentor'
        model = MODELS.build(cfg)
    finally:
        MODELS.module_dict.pop('CountedSegmentor')
    assert not built and model.teacher is None
    model.load_state_dict(trained.state_dict(), strict=True)
    model.eval()
    trained.eval()
    batch = make_batch()
    with torch.no_grad():
        ours = model.test_step(batch)
        theirs = trained.test_step(batch)
    for a, b in zip(ours, theirs):
        assert torch.equal(a.pred, b.pred)
    model.to(torch.float64)  # moves the model without a teacher
    copy.deepcopy(model)
    with pytest.raises(RuntimeError, match='eval_only=True.*no teacher'):
        model(**model.data_preprocessor(batch, True), mode='loss')


def test_teacher_view_feeds_the_teacher_its_own_inputs(tmp_path):
    """With teacher_view=True the teacher reads the batch's teacher_inputs
    (through its preprocessor) and never the student's inputs."""
    _, ckpt = save_teacher(tmp_path)
    model = MODELS.build(distill_cfg(ckpt, teacher_view=True))
    batch = make_batch()
    view = [1 - x for x in batch['inputs']]  # another view of each sample
    seen = []
    model.teacher.backbone.register_forward_hook(
        lambda m, args, out: seen.append(args[0]))
    model.train()
    data = model.data_preprocessor(dict(batch, teacher_inputs=view), True)
    assert 'teacher_inputs' in data
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_ce', 'distill.loss_kl_logits'}
    assert torch.equal(seen[0], torch.stack(view))
    # the student's inputs are the student's view
    assert torch.equal(torch.stack(data['inputs']),
                       torch.stack(batch['inputs']))
    with pytest.raises(KeyError, match="teacher_view=True, but the batch "
                       "has no 'teacher_inputs'.*mmkd.PackTeacherView"):
        model.data_preprocessor(batch, True)
    # evaluation reads no view
    assert 'teacher_inputs' not in model.data_preprocessor(batch, False)


def test_loss_over_several_taps_is_the_sum_over_pairs(tmp_path):
    _, ckpt = save_teacher(tmp_path)
    cfg = distill_cfg(
        ckpt,
        losses=dict(
            both=dict(type='MSEFeatureLoss', student=['logits', 'feat'],
                      teacher=['logits', 'feat']),
            a=dict(type='MSEFeatureLoss', student='logits',
                   teacher='logits'),
            b=dict(type='MSEFeatureLoss', student='feat', teacher='feat')),
        connectors=dict(feat=dict(
            type='ConvConnector', in_channels=4, out_channels=8)))
    model = MODELS.build(cfg)
    model.train()
    data = model.data_preprocessor(make_batch(), True)
    losses = model(**data, mode='loss')
    torch.testing.assert_close(
        losses['distill.loss_both'],
        losses['distill.loss_a'] + losses['distill.loss_b'])


class SumDeeper(nn.Module):
    """Takes all stages at once: a stage plus the mean of the deeper one's
    channels (a stand-in for TransKD's fusion of stages), widened 4 -> 8."""

    takes_sequences = True

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.seen = []

    def forward(self, stages):
        self.seen.append(type(stages))
        fused = stages[0] * self.scale + stages[1].mean(1, keepdim=True)
        return [fused.repeat(1, 2, 1, 1), stages[1].repeat(1, 2, 1, 1)]


def test_per_loss_connectors_and_a_connector_over_several_taps(tmp_path):
    MODELS.register_module('SumDeeper', module=SumDeeper, force=True)
    _, ckpt = save_teacher(tmp_path)
    cfg = distill_cfg(
        ckpt,
        losses=dict(
            # two losses on one student tap, each with its own adapter
            m1=dict(type='MSEFeatureLoss', student='feat', teacher='feat',
                    connector=dict(type='ConvConnector', in_channels=4,
                                   out_channels=8)),
            m2=dict(type='L1FeatureLoss', student='feat', teacher='feat',
                    connector=dict(type='ConvConnector', in_channels=4,
                                   out_channels=8)),
            fused=dict(type='MSEFeatureLoss', student=['feat', 'feat'],
                       teacher=['feat', 'feat'],
                       connector=dict(type='SumDeeper'))))
    model = MODELS.build(cfg)
    keys = model.state_dict().keys()
    for name in ('m1', 'm2'):
        assert f'distiller.loss_connectors.{name}.conv.conv.weight' in keys
    assert 'distiller.loss_connectors.fused.scale' in keys
    params = {id(p) for p in model.parameters()}
    assert id(model.distiller.loss_connectors['fused'].scale) in params
    model.train()
    data = model.data_preprocessor(make_batch(), True)
    losses = model(**data, mode='loss')
    assert model.distiller.loss_connectors['fused'].seen == [list]
    losses['distill.loss_fused'].backward()
    assert model.distiller.loss_connectors['fused'].scale.grad is not None
    assert losses['distill.loss_m1'] != losses['distill.loss_m2']
    MODELS.module_dict.pop('SumDeeper')


def test_several_taps_are_checked_at_build(tmp_path):
    _, ckpt = save_teacher(tmp_path)
    with pytest.raises(KeyError, match=r"reads student tap 'fet'.*did you "
                       r"mean 'feat'"):
        MODELS.build(distill_cfg(ckpt, losses=dict(x=dict(
            type='MSEFeatureLoss', student=['logits', 'fet'],
            teacher=['logits', 'feat']))))
    with pytest.raises(TypeError, match=r"reads a dict of taps, which "
                       r"MSEFeatureLoss does not take"):
        MODELS.build(distill_cfg(ckpt, losses=dict(x=dict(
            type='MSEFeatureLoss', student=dict(a='logits'),
            teacher=dict(a='logits')))))


class CheckedConnector(nn.Module):
    """Refuses a student narrower than its ``in_channels`` at build time;
    records what the engine gave its ``check_models``."""

    takes_sequences = True
    seen = []

    def __init__(self, in_channels=4):
        super().__init__()
        self.in_channels = in_channels

    def check_models(self, name, student, teacher, student_tap,
                     teacher_tap):
        CheckedConnector.seen.append((name, student_tap, teacher_tap,
                                      teacher is not None))
        width = student.neck.out_channels
        if width != self.in_channels:
            raise ValueError(f'{name}: student neck has {width} channels, '
                             f'in_channels is {self.in_channels}')

    def forward(self, feats):
        return feats


def test_connectors_check_the_models_at_build(tmp_path):
    """A connector's ``check_models`` gets the loss's tap configs (one, a
    list or a dict, as the loss reads them): a loss's own connector and a
    tap's connector alike, before any step."""
    MODELS.register_module('CheckedConnector', module=CheckedConnector,
                           force=True)
    try:
        _, ckpt = save_teacher(tmp_path)
        CheckedConnector.seen.clear()
        cfg = distill_cfg(
            ckpt,
            connectors=dict(logits=dict(type='CheckedConnector')),
            losses=dict(
                own=dict(type='MSEFeatureLoss', student=['feat', 'logits'],
                         teacher=['logits', 'logits'],
                         connector=dict(type='CheckedConnector')),
                tap=dict(type='MSEFeatureLoss', student='logits',
                         teacher='logits')))
        MODELS.build(cfg)
        paths = [(name, [t['path'] for t in s] if isinstance(s, list)
                  else s['path'], t['path'] if isinstance(t, dict) else
                  [x['path'] for x in t], has_teacher)
                 for name, s, t, has_teacher in CheckedConnector.seen]
        assert paths == [('own', ['neck', 'head'], ['head', 'head'], True),
                         ('tap', 'head', 'head', True)]
        cfg['losses']['own']['connector']['in_channels'] = 3
        with pytest.raises(ValueError, match='own: student neck has 4 '
                           'channels, in_channels is 3'):
            MODELS.build(cfg)
    finally:
        MODELS.module_dict.pop('CheckedConnector')


class NoTensorMode(ToySegmentor):
    """Like mmdet3d's MVXTwoStageDetector (CenterPoint): `_forward(self)`
    is a stub, so tensor mode fails."""

    def forward(self, inputs, data_samples=None, mode='tensor'):
        if mode == 'tensor':
            return self._forward(inputs, data_samples)
        return super().forward(inputs, data_samples, mode)

    def _forward(self):
        pass


def test_teacher_without_tensor_mode_runs_in_loss_mode(tmp_path):
    MODELS.register_module('NoTensorMode', module=NoTensorMode, force=True)
    try:
        teacher = NoTensorMode(width=8)
        ckpt = str(tmp_path / 'teacher.pth')
        torch.save(dict(state_dict=teacher.state_dict()), ckpt)
        cfg = feature_cfg(
            ckpt,
            teacher=dict(type='NoTensorMode', width=8),
            taps=dict(student=dict(feat='neck'), teacher=dict(feat='neck')))
        data = MODELS.build(cfg).data_preprocessor(make_batch(), True)
        with pytest.raises(TypeError, match="teacher_mode='loss'"):
            MODELS.build(cfg)(**data, mode='loss')
        with pytest.raises(ValueError, match="teacher_mode must be one of"):
            MODELS.build(dict(cfg, teacher_mode='predict'))
        model = MODELS.build(dict(cfg, teacher_mode='loss'))
        head_calls = []
        model.teacher.head.register_forward_hook(
            lambda *args: head_calls.append(1))
        for _ in range(3):
            losses = model(**data, mode='loss')
            assert losses['distill.loss_mse'] > 0
        # the first forward ran to the teacher's loss, the others stopped
        # at the tapped neck
        assert len(head_calls) == 2
    finally:
        MODELS.module_dict.pop('NoTensorMode')
