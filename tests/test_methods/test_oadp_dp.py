# Copyright (c) mmkd contributors. All rights reserved.
"""OADP's DP student on hand-made tensors: the text classifiers, the
asymmetric loss, the object / block / global heads and their losses, the
test-time ensemble and the block targets."""
import json
import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import init_default_scope

from mmkd.methods.oadp import (AsymmetricLoss, OADPBlockHead, OADPClassifier,
                               OADPGlobalHead, OADPObjectHead,
                               OADPViLDClassifier, ensemble_lambdas,
                               ensemble_scores, overlap_labels)
from mmkd.models.clip import save_text_embeddings

CLASSES = ['cat', 'dog', 'cow', 'yak']
BASE = ['cat', 'dog']
DIM = 8


def num(tensor) -> float:
    return float(tensor.detach())


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp('prompts')
    torch.manual_seed(0)
    embeddings = F.normalize(torch.randn(len(CLASSES), DIM), dim=-1)
    plain = str(root / 'vild.pth')
    save_text_embeddings(plain, CLASSES, embeddings)
    scaled = str(root / 'ml.pth')
    save_text_embeddings(scaled, CLASSES, embeddings, scale=40., bias=12.)
    return dict(plain=plain, scaled=scaled, embeddings=embeddings)


def classifier(kind, files, out_features=len(CLASSES) + 1, **kwargs):
    kwargs.setdefault('embeddings', files['scaled'])
    kwargs.setdefault('base_classes', BASE)
    return kind(
        in_features=6, out_features=out_features, classes=CLASSES, **kwargs)


def test_names_other_than_the_dataset_classes_are_refused(files):
    with pytest.raises(
            ValueError,
            match=r"text embeddings '.*ml.pth', \['cat', 'dog', 'cow', "
            r"'yak'\], are not the dataset's classes, in order: \['cat', "
            r"'cow', 'dog', 'yak'\]"):
        OADPClassifier(
            in_features=6,
            out_features=5,
            embeddings=files['scaled'],
            classes=['cat', 'cow', 'dog', 'yak'])
    with pytest.raises(ValueError, match=r"base classes \['emu'\]"):
        classifier(OADPClassifier, files, base_classes=['cat', 'emu'])
    with pytest.raises(ValueError, match='out_features is 7, expected 4'):
        classifier(OADPClassifier, files, out_features=7)


def test_classes_from_an_ov_split_summary(files, tmp_path):
    """``ov_split=`` (an ``ov_split.json``) names the classes and base
    classes instead of the config; out_features defaults to C."""
    from mmkd.datasets.open_vocabulary import write_ov_splits
    coco = dict(
        images=[dict(id=1, file_name='a.jpg', height=8, width=8)],
        annotations=[],
        categories=[dict(id=i + 1, name=c) for i, c in enumerate(CLASSES)])
    src = tmp_path / 'src.json'
    src.write_text(json.dumps(coco))
    write_ov_splits(str(src), str(src), BASE, ['cow', 'yak'], str(tmp_path))
    summary = str(tmp_path / 'ov_split.json')
    head = OADPClassifier(
        in_features=6, embeddings=files['scaled'], ov_split=summary)
    assert head.classes == CLASSES
    assert head.novel.tolist() == [False, False, True, True]
    with pytest.raises(
            ValueError, match='classes / base_classes or '
            'ov_split .*, not both'):
        OADPClassifier(
            in_features=6,
            embeddings=files['scaled'],
            ov_split=summary,
            classes=CLASSES)
    with pytest.raises(
            FileNotFoundError,
            match=r"OV split summary '.*nowhere.json' does not exist"):
        OADPClassifier(
            in_features=6,
            embeddings=files['scaled'],
            ov_split=str(tmp_path / 'nowhere.json'))


def test_vild_classifier_scores_cosines_over_the_temperature(files):
    head = classifier(OADPViLDClassifier, files, embeddings=files['plain'])
    x = torch.randn(3, 6)
    emb = head.embed(x)
    assert torch.allclose(emb.norm(dim=-1), torch.ones(3))
    bg = F.normalize(head.bg_embedding, dim=-1)
    cosine = emb @ torch.cat([files['embeddings'], bg]).T
    head.eval()
    assert torch.allclose(head(x), cosine / 0.01, atol=1e-5)
    head.train()
    logits = head(x)
    # novel columns -inf in training, base and background / 0.007
    assert torch.isinf(logits[:, 2:4]).all() and (logits[:, 2:4] < 0).all()
    assert torch.allclose(
        logits[:, [0, 1, 4]], cosine[:, [0, 1, 4]] / 0.007, atol=1e-4)


def test_scale_and_bias_come_from_the_file_or_defaults(files):
    x = torch.randn(3, 6)
    head = classifier(OADPClassifier, files, out_features=len(CLASSES)).eval()
    assert head.bg_embedding is None
    cosine = head.embed(x) @ files['embeddings'].T
    assert torch.allclose(head(x), cosine * 40 - 12, atol=1e-4)
    plain = classifier(
        OADPClassifier,
        files,
        out_features=len(CLASSES),
        embeddings=files['plain']).eval()
    assert (plain.logit_scale, plain.logit_bias) == (100., 0.)
    given = classifier(
        OADPClassifier, files, out_features=4, scale=2., bias=1.)
    assert (given.logit_scale, given.logit_bias) == (2., 1.)


def test_no_gradient_reaches_text_embeddings_or_novel_columns(files):
    head = classifier(OADPViLDClassifier, files)
    names = [n for n, _ in head.named_parameters()]
    assert names == ['bg_embedding', 'linear.weight', 'linear.bias']
    assert 'class_embeddings' not in head.state_dict()
    x = torch.randn(5, 6, requires_grad=True)
    logits = head(x)
    logits.retain_grad()
    F.cross_entropy(logits, torch.tensor([0, 1, 4, 0, 1])).backward()
    assert not head.class_embeddings.requires_grad
    assert head.class_embeddings.grad is None
    assert torch.equal(head.class_embeddings, files['embeddings'])
    assert (logits.grad[:, 2:4] == 0).all()
    assert logits.grad[:, [0, 1, 4]].abs().sum() > 0
    assert head.linear.weight.grad.abs().sum() > 0


def test_asymmetric_loss_on_a_hand_computed_case():
    logits = torch.tensor([[0., 2.], [-1., float('-inf')]], requires_grad=True)
    targets = torch.tensor([[True, False], [True, False]])
    loss = AsymmetricLoss(reduction='none')(logits, targets)
    p = 1 / (1 + math.exp(-2))
    p_m = p - 0.05
    expected = [[math.log(2), -p_m**4 * math.log(1 - p_m)],
                [math.log(1 + math.e), 0.]]
    assert torch.allclose(loss, torch.tensor(expected), atol=1e-6)
    # a negative below the clip costs nothing
    below = AsymmetricLoss(reduction='none')(torch.tensor(
        [[math.log(0.04 / 0.96)]]), torch.tensor([[False]]))
    assert num(below) == 0
    mean = AsymmetricLoss(loss_weight=4.)(logits, targets)
    assert num(mean) == pytest.approx(4 * sum(map(sum, expected)) / 4)
    mean.backward()
    assert torch.isfinite(logits.grad).all() and logits.grad[1, 1] == 0
    total = AsymmetricLoss(reduction='sum')(logits.detach(), targets)
    assert num(total) == pytest.approx(sum(map(sum, expected)))


@pytest.fixture
def heads(files):
    init_default_scope('mmdet')
    ml = dict(
        type='mmkd.OADPClassifier',
        embeddings=files['scaled'],
        classes=CLASSES,
        base_classes=BASE)
    common = dict(
        in_channels=4,
        roi_feat_size=3,
        num_classes=len(CLASSES),
        fc_out_channels=16,
        cls_predictor_cfg=ml)
    torch.manual_seed(0)
    return dict(
        object=OADPObjectHead(conv_out_channels=4, **common),
        block=OADPBlockHead(**common),
        global_=OADPGlobalHead(classifier=ml, in_channels=4))


def test_object_head_distills_with_l1_times_256(heads):
    head = heads['object']
    assert not head.with_reg and len(head.shared_convs) == 4
    assert not head.fc_cls.bg_embedding.requires_grad
    x = torch.randn(3, 4, 3, 3)
    emb, logits = head.embed(x)
    assert emb.shape == (3, DIM) and logits.shape == (3, len(CLASSES))
    loss = head.loss_objects(x, emb.detach())
    assert num(loss['loss_clip_objects']) == 0
    target = F.normalize(torch.randn(3, DIM), dim=-1)
    loss = head.loss_objects(x, target)['loss_clip_objects']
    assert num(loss) == pytest.approx(
        256 * num((emb - target).abs().mean()), rel=1e-5)
    # at test: C + 1 columns, the background -inf
    head.eval()
    scores, _ = head(x)
    assert scores.shape == (3, 5) and torch.isinf(scores[:, 4]).all()
    with pytest.raises(
            ValueError,
            match=r'student embeddings \(3, 8\) and '
            r'the cached CLIP embeddings \(3, 16\)'):
        head.loss_objects(x, torch.randn(3, 16))


def test_block_head_l1_gram_and_multilabel_losses(heads):
    head = heads['block']
    x = torch.randn(5, 4, 3, 3)
    emb, logits = head.embed(x)
    labels = torch.zeros(5, len(CLASSES), dtype=torch.bool)
    labels[0, 1] = labels[3, 0] = True
    same = head.loss_blocks(x, emb.detach(), labels)
    assert num(same['loss_clip_blocks']) == 0
    assert num(same['loss_clip_block_relations']) < 1e-10
    # the Gram relation: 8 * mean((S S^T - T T^T)^2) over all blocks
    target = F.normalize(torch.randn(5, DIM), dim=-1)
    losses = head.loss_blocks(x, target, labels)
    relation = 8 * ((emb @ emb.T - target @ target.T)**2).mean()
    assert num(losses['loss_clip_block_relations']) == pytest.approx(
        num(relation), rel=1e-4)
    assert num(losses['loss_clip_blocks']) == pytest.approx(
        128 * num((emb - target).abs().mean()), rel=1e-5)
    # relations ignore a rotation of the embedding space, L1 does not
    rotation, _ = torch.linalg.qr(torch.randn(DIM, DIM))
    rotated = head.loss_blocks(x, emb.detach() @ rotation, labels)
    assert num(rotated['loss_clip_block_relations']) < 1e-8
    assert num(rotated['loss_clip_blocks']) > 1
    asl = AsymmetricLoss(loss_weight=16.)(logits, labels)
    assert num(losses['loss_block_mll']) == pytest.approx(num(asl))
    without = head.loss_blocks(x, target, labels, distill=False)
    assert list(without) == ['loss_block_mll']


def test_global_head_mse_sum_and_multilabel_losses(heads):
    head = heads['global_']
    feats = [torch.randn(2, 4, 6, 6), torch.randn(2, 4, 3, 3)]
    emb, logits = head(feats)
    pooled = feats[-1].mean(dim=(2, 3))
    assert torch.allclose(emb, head.classifier.embed(pooled))
    assert logits.shape == (2, len(CLASSES))
    labels = torch.tensor([[True, False, False, False],
                           [False, True, False, False]])
    same = head.loss(feats, emb.detach(), labels)
    assert num(same['loss_clip_global']) == 0
    target = F.normalize(torch.randn(2, DIM), dim=-1)
    losses = head.loss(feats, target, labels)
    assert num(losses['loss_clip_global']) == pytest.approx(
        0.5 * num(((emb - target)**2).sum()), rel=1e-5)
    assert num(losses['loss_global_mll']) == pytest.approx(
        num(AsymmetricLoss(loss_weight=4.)(logits, labels)))
    # novel columns (-inf in training) cost nothing
    assert torch.isinf(logits[:, 2:]).all()


def test_ensemble_on_hand_made_values():
    novel = torch.tensor([False, True, False])
    lambdas = ensemble_lambdas(novel)
    assert torch.allclose(lambdas, torch.tensor([2 / 3, 1 / 3, 1 / 3]))
    p = torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]])
    q = torch.tensor([[0.6, 0.4, 0.0], [0.2, 0.8, 0.0]])
    scores = ensemble_scores(p.log(), q.log(), lambdas)
    a = 0.5**(2 / 3) * 0.6**(1 / 3)
    b = 0.3**(1 / 3) * 0.4**(2 / 3)
    assert scores[0].tolist() == pytest.approx([a, b, 1 - a - b])
    c = 0.1**(2 / 3) * 0.2**(1 / 3)
    d = 0.1**(1 / 3) * 0.8**(2 / 3)
    assert scores[1].tolist() == pytest.approx([c, d, 1 - c - d])
    # rows sum to 1 after the background rule, for any logits
    torch.manual_seed(0)
    random = ensemble_scores(
        torch.randn(50, 6), torch.randn(50, 6),
        ensemble_lambdas(torch.tensor([False] * 3 + [True] * 2 + [False])))
    assert torch.allclose(random.sum(-1), torch.ones(50))
    with pytest.raises(
            ValueError, match=r'bbox logits \(2, 3\), object '
            r'logits \(2, 4\)'):
        ensemble_scores(p, torch.zeros(2, 4), lambdas)


def test_block_targets_are_classes_of_overlapping_boxes():
    blocks = torch.tensor([[0., 0., 10., 10.], [10., 0., 20., 10.],
                           [0., 20., 5., 25.]])
    gt = torch.tensor([[5., 5., 12., 8.], [10., 0., 12., 10.]])
    labels = overlap_labels(blocks, gt, torch.tensor([2, 0]), 3)
    # touching at x = 10 is no overlap
    assert labels.tolist() == [[False, False, True], [True, False, True],
                               [False, False, False]]
    assert overlap_labels(blocks, gt[:0],
                          torch.tensor([]).long(), 3).sum() == 0
