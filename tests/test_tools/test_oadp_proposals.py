# Copyright (c) mmkd contributors. All rights reserved.
"""tools/misc/oadp_proposals.py: the RPN proposals of the OV DigitScenes
base-class detector (random weights, a tiny generated OV DigitScenes read
at half its size) in the proposal format OAKE reads, in the original
images' pixels; checkpoints of other classes and missing images refused."""
import importlib.util
import json
import os.path as osp
import pickle

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmkd_testing import ROOT

from mmkd.methods.oadp import (dataset_samples, dump_proposals, load_proposals,
                               proposal_test_cfg, rpn_of)
from mmkd.methods.oadp.proposals import ProposalSample
from mmkd.registry import DATASETS, MODELS

CONFIG = osp.join(ROOT, 'configs', 'oadp',
                  'proposals_faster-rcnn_r18_fpn_2k_ov-digit-scenes.py')
TINY = dict(num_train=3, num_val=1, img_size=224)
# the test pipeline reads the 224 px canvases at 112 px: scale 1/2
SCALE = 0.5


def load_tool():
    spec = importlib.util.spec_from_file_location(
        'oadp_proposals', osp.join(ROOT, 'tools', 'misc', 'oadp_proposals.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def relocate(node, data_root):
    if isinstance(node, list):
        for value in node:
            relocate(value, data_root)
    elif isinstance(node, dict):
        if 'data_root' in node:
            node['data_root'] = data_root
        if 'generate_cfg' in node:
            node['generate_cfg'] = TINY
        if node.get('type') == 'Resize':
            node['scale'] = (112, 112)
        for value in node.values():
            relocate(value, data_root)


def save_detector(cfg, path, dataset_meta=None, seed=0, **bbox_head):
    init_default_scope('mmdet')
    model_cfg = cfg.model.copy()
    model_cfg.roi_head.bbox_head.update(bbox_head)
    torch.manual_seed(seed)
    model = MODELS.build(model_cfg)
    meta = {} if dataset_meta is None else dict(dataset_meta=dataset_meta)
    torch.save(dict(state_dict=model.state_dict(), meta=meta), path)
    return path


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp('proposals')
    data_root = str(root / 'ds') + '/'
    cfg = Config.fromfile(CONFIG)
    relocate(cfg._cfg_dict, data_root)
    config = str(root / 'detector.py')
    cfg.dump(config)
    init_default_scope('mmdet')
    # generated and split on first use
    train = cfg.train_dataloader.dataset.copy()
    train.pipeline = []
    metainfo = DATASETS.build(train).metainfo
    assert metainfo['base_classes'] == tuple('0123456')
    checkpoint = save_detector(
        cfg, str(root / 'detector.pth'),
        dict(
            classes=metainfo['classes'],
            base_classes=metainfo['base_classes'],
            novel_classes=metainfo['novel_classes']))
    return dict(
        root=root,
        cfg=cfg,
        config=config,
        checkpoint=checkpoint,
        data_root=data_root,
        metainfo=metainfo)


@pytest.fixture(scope='module')
def dumped(data):
    out = str(data['root'] / 'proposals' / 'train.pkl')
    load_tool().main([
        data['config'], data['checkpoint'], '--out', out, '--num-proposals',
        '7', '--batch-size', '2'
    ])
    return out


def test_defaults_are_oln_settings():
    args = load_tool().parse_args(['c.py', 'w.pth', '--out', 'p.pkl'])
    assert (args.num_proposals, args.nms_iou, args.nms_pre, args.score_thr,
            args.min_size, args.nms_per_level) == (1500, 0.7, 2000, 0.0, 0.0,
                                                   False)
    cfg = proposal_test_cfg(dict(nms_pre=1000, max_per_img=300, keep=1))
    assert cfg == dict(
        nms_pre=2000,
        max_per_img=1500,
        nms=dict(type='nms', iou_threshold=0.7, class_agnostic=True),
        min_bbox_size=0.0,
        keep=1)
    with pytest.raises(ValueError, match='num_proposals must be >= 1'):
        proposal_test_cfg(num_proposals=0)


def test_written_file_loads_with_the_configured_count(data, dumped):
    samples = dataset_samples(data['cfg'].train_dataloader.dataset,
                              data['data_root'])
    assert len(samples) == TINY['num_train']
    assert all(s['key'].startswith('img_dir/train/') for s in samples)
    proposals = load_proposals(dumped, [
        ProposalSample(s['key'], s['img_path'], s['img_id']) for s in samples
    ])
    for boxes in proposals:
        assert boxes.shape == (7, 5)
        # original 224 px canvases, not the 112 px input
        assert float(boxes[:, :4].min()) >= 0
        assert float(boxes[:, :4].max()) <= TINY['img_size']
        assert (boxes[:, 2] > boxes[:, 0]).all()
        # sorted by objectness
        assert torch.all(boxes[:-1, 4] >= boxes[1:, 4])
    with open(osp.splitext(dumped)[0] + '.json') as f:
        report = json.load(f)
    assert report['settings']['num_proposals'] == 7
    assert report['proposals_per_image'] == dict(min=7, max=7, mean=7.0)


def test_boxes_found_at_scale_s_map_back_by_1_over_s(data, dumped):
    init_default_scope('mmdet')
    cfg = data['cfg']
    model_cfg = cfg.model.copy()
    model_cfg.test_cfg.rpn = proposal_test_cfg(
        model_cfg.test_cfg.rpn, num_proposals=7)
    model = MODELS.build(model_cfg)
    model.load_state_dict(torch.load(data['checkpoint'])['state_dict'])
    model.eval()
    dataset_cfg = cfg.test_dataloader.dataset.copy()
    dataset_cfg.update(
        ann_file=cfg.train_dataloader.dataset.ann_file,
        data_prefix=cfg.train_dataloader.dataset.data_prefix,
        test_mode=False)
    dataset = DATASETS.build(dataset_cfg)
    with open(dumped, 'rb') as f:
        dumped = pickle.load(f)
    for i in range(len(dataset)):
        batch = model.data_preprocessor(pseudo_collate([dataset[i]]), False)
        (sample, ) = batch['data_samples']
        assert sample.img_shape == (112, 112)
        assert sample.scale_factor == (SCALE, SCALE)
        with torch.no_grad():
            (found, ) = rpn_of(model).predict(
                model.extract_feat(batch['inputs']), [sample], rescale=False)
        key = osp.relpath(sample.img_path, data['data_root'])
        got = torch.from_numpy(dumped[key])
        assert torch.allclose(got[:, :4], found.bboxes / SCALE, atol=1e-4)
        assert torch.allclose(got[:, 4], found.scores)


def test_an_rpn_detector_dumps_too(data):
    """mmdet's ``RPN`` (its head is ``bbox_head``) as well."""
    init_default_scope('mmdet')
    faster = data['cfg'].model
    model = MODELS.build(
        dict(
            type='RPN',
            data_preprocessor=faster.data_preprocessor,
            backbone=faster.backbone,
            neck=faster.neck,
            rpn_head=faster.rpn_head,
            train_cfg=dict(rpn=faster.train_cfg.rpn),
            test_cfg=dict(
                rpn=proposal_test_cfg(faster.test_cfg.rpn,
                                      num_proposals=5)))).eval()
    assert rpn_of(model) is model.bbox_head
    dataset_cfg = data['cfg'].train_dataloader.dataset.copy()
    dataset_cfg.pipeline = load_tool()._test_pipeline(data['cfg'], 'cfg')
    proposals = dump_proposals(model, DATASETS.build(dataset_cfg),
                               data['data_root'])
    assert [v.shape for v in proposals.values()] == [(5, 5)] * 3
    with pytest.raises(TypeError, match='RetinaNet has no RPN'):
        rpn_of(type('RetinaNet', (torch.nn.Module, ), {})())


def test_a_detector_of_other_classes_is_refused(data, tmp_path):
    tool = load_tool()
    meta = data['metainfo']
    out = str(tmp_path / 'p.pkl')
    # trained with novel labels: plain DigitScenes, all ten digits
    oracle = save_detector(data['cfg'], str(tmp_path / 'oracle.pth'),
                           dict(classes=meta['classes']))
    with pytest.raises(
            ValueError,
            match=r"checkpoint '.*oracle.pth' was trained on the classes "
            r".*'9'\], the split's base classes are \['0', .*'6'\]: novel "
            r"classes \['7', '8', '9'\]"):
        tool.main([data['config'], oracle, '--out', out])
    # another base split
    other = save_detector(
        data['cfg'], str(tmp_path / 'other.pth'),
        dict(classes=meta['classes'], base_classes=tuple('012345')))
    with pytest.raises(ValueError, match=r"base classes missing \['6'\]"):
        tool.main([data['config'], other, '--out', out])
    # no classes recorded
    bare = save_detector(data['cfg'], str(tmp_path / 'bare.pth'))
    with pytest.raises(ValueError, match='records no classes'):
        tool.main([data['config'], bare, '--out', out])
    # a head of 7 classes where the config has 10: loaded strictly
    seven = save_detector(
        data['cfg'],
        str(tmp_path / 'seven.pth'),
        dict(meta, classes=meta['base_classes']),
        num_classes=7)
    with pytest.raises(
            RuntimeError,
            match=r'size mismatch for roi_head.bbox_head.fc_cls.weight'):
        tool.main([data['config'], seven, '--out', out])
    assert not osp.exists(out)


def test_a_missing_image_is_refused_before_the_model(data, tmp_path):
    ann = dict(
        images=[
            dict(id=1, file_name='missing.png', height=224, width=224),
        ],
        annotations=[],
        categories=[dict(id=i + 1, name=str(i)) for i in range(10)])
    with open(tmp_path / 'ann.json', 'w') as f:
        json.dump(ann, f)
    data_config = tmp_path / 'data.py'
    data_config.write_text(f"""
train_dataloader = dict(dataset=dict(
    type='CocoDataset', data_root={str(tmp_path)!r}, ann_file='ann.json',
    data_prefix=dict(img='images/'), filter_cfg=None,
    metainfo=dict(classes={tuple(str(i) for i in range(10))!r}),
    pipeline=[]))
""")
    with pytest.raises(
            FileNotFoundError,
            match=r"1 of the 1 images of the dataset do not exist, e\.g\. "
            r"\['.*images/missing.png'\]"):
        load_tool().main([
            data['config'], 'no_such_checkpoint.pth', '--data-config',
            str(data_config), '--out',
            str(tmp_path / 'p.pkl')
        ])
