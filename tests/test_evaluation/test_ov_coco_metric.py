# Copyright (c) mmkd contributors. All rights reserved.
"""mmkd.OVCocoMetric: AP50 of base, novel and all classes on hand-made
detections whose APs are known."""
import json
import math

import pytest
import torch
from mmkd_testing import collect_logs

from mmkd.evaluation import OVCocoMetric
from mmkd.registry import METRICS

CLASSES = ('a', 'b', 'c', 'd')
META = dict(classes=CLASSES, base_classes=('a', 'b'), novel_classes=('c', 'd'))
# image id -> (label, box) ground truth, one 10x10 box per instance
GT = {
    1: [(0, (0, 0, 10, 10)), (2, (20, 20, 30, 30))],
    2: [(1, (0, 0, 10, 10)), (3, (20, 20, 30, 30))],
}


def _write_gt(path, gt=GT, classes=CLASSES):
    anns = []
    for img_id, boxes in gt.items():
        for label, (x1, y1, x2, y2) in boxes:
            anns.append(
                dict(
                    id=len(anns) + 1,
                    image_id=img_id,
                    category_id=label + 1,
                    bbox=[x1, y1, x2 - x1, y2 - y1],
                    area=(x2 - x1) * (y2 - y1),
                    iscrowd=0))
    with open(path, 'w') as f:
        json.dump(
            dict(
                images=[
                    dict(id=i, file_name=f'{i}.png', height=40, width=40)
                    for i in gt
                ],
                annotations=anns,
                categories=[
                    dict(id=k + 1, name=c) for k, c in enumerate(classes)
                ]), f)
    return str(path)


def _sample(img_id, dets):
    """dets: (label, box, score) triplets."""
    return dict(
        img_id=img_id,
        ori_shape=(40, 40),
        pred_instances=dict(
            bboxes=torch.tensor([d[1] for d in dets],
                                dtype=torch.float32).reshape(-1, 4),
            scores=torch.tensor([d[2] for d in dets], dtype=torch.float32),
            labels=torch.tensor([d[0] for d in dets], dtype=torch.long)))


def _evaluate(metric, dets, meta=META):
    metric.dataset_meta = meta
    metric.process({}, [_sample(i, dets.get(i, [])) for i in GT])
    return metric.evaluate(len(GT))


def _perfect(labels):
    return {
        i: [(label, box, 0.9) for label, box in boxes if label in labels]
        for i, boxes in GT.items()
    }


def test_perfect_on_base_nothing_on_novel(tmp_path):
    metric = OVCocoMetric(ann_file=_write_gt(tmp_path / 'gt.json'))
    results = _evaluate(metric, _perfect({0, 1}))
    assert results == pytest.approx({
        'coco/bbox_AP50_base': 1.0,
        'coco/bbox_AP50_novel': 0.0,
        'coco/bbox_AP50_all': 0.5
    })


def test_novel_class_found_and_a_base_class_half_right(tmp_path):
    # 'a' found at IoU 0.7 (counts at 0.5), 'b' missed with a box of IoU
    # 0.4 (20/50 per side overlap, below 0.5); 'c' perfect, 'd' missed
    dets = {
        1: [(0, (0, 0, 10, 7), 0.9), (2, (20, 20, 30, 30), 0.8)],
        2: [(1, (0, 0, 10, 4), 0.9)],
    }
    metric = OVCocoMetric(
        ann_file=_write_gt(tmp_path / 'gt.json'), classwise=True)
    results = _evaluate(metric, dets)
    assert results['coco/bbox_AP50_a'] == pytest.approx(1.0)
    assert results['coco/bbox_AP50_b'] == pytest.approx(0.0)
    assert results['coco/bbox_AP50_base'] == pytest.approx(0.5)
    assert results['coco/bbox_AP50_novel'] == pytest.approx(0.5)
    assert results['coco/bbox_AP50_all'] == pytest.approx(0.5)


def test_max_dets_keeps_the_highest_scores(tmp_path):
    # 3 false positives of 'a' scored above its true box on image 1:
    # precision at the only recall point is 1/4 with 100 detections; with
    # max_dets=3 the true box is cut off and AP50 of 'a' is 0
    fps = [(0, (30, 0, 40, 10), 0.99), (0, (0, 30, 10, 40), 0.98),
           (0, (30, 30, 40, 40), 0.97)]
    dets = {1: fps + [(0, (0, 0, 10, 10), 0.5)]}
    gt = tmp_path / 'gt.json'
    kept = _evaluate(
        OVCocoMetric(ann_file=_write_gt(gt), classwise=True), dets)
    assert kept['coco/bbox_AP50_a'] == pytest.approx(0.25)
    cut = _evaluate(
        OVCocoMetric(ann_file=_write_gt(gt), classwise=True, max_dets=3), dets)
    assert cut['coco/bbox_AP50_a'] == pytest.approx(0.0)


def test_ground_truth_from_the_samples_and_groups_from_the_metric():
    metric = METRICS.build(
        dict(
            type='OVCocoMetric',
            base_classes=('a', 'c'),
            novel_classes=('b', 'd')))
    metric.dataset_meta = dict(classes=CLASSES)
    samples = []
    for img_id, boxes in GT.items():
        sample = _sample(img_id, [(label, box, 0.9)
                                  for label, box in boxes if label in (0, 2)])
        sample['instances'] = [
            dict(bbox=list(box), bbox_label=label, ignore_flag=0)
            for label, box in boxes
        ]
        samples.append(sample)
    metric.process({}, samples)
    results = metric.evaluate(len(GT))
    assert results['coco/bbox_AP50_base'] == pytest.approx(1.0)
    assert results['coco/bbox_AP50_novel'] == pytest.approx(0.0)


def test_no_detections_score_zero_and_classes_without_gt_nan(tmp_path):
    gt = {1: [(0, (0, 0, 10, 10))], 2: [(1, (0, 0, 10, 10))]}
    metric = OVCocoMetric(ann_file=_write_gt(tmp_path / 'gt.json', gt))
    results = _evaluate(metric, {})
    assert results['coco/bbox_AP50_base'] == pytest.approx(0.0)
    assert math.isnan(results['coco/bbox_AP50_novel'])


def test_bad_classes_are_named(tmp_path):
    ann_file = _write_gt(tmp_path / 'gt.json')
    with pytest.raises(
            ValueError,
            match=r'no novel_classes.*'
            r"dataset_meta keys: \['base_classes', 'classes'\]"):
        _evaluate(
            OVCocoMetric(ann_file=ann_file), _perfect({0}),
            dict(classes=CLASSES, base_classes=('a', 'b')))
    with pytest.raises(
            ValueError, match=r"\['d'\] are neither base nor "
            'novel'):
        _evaluate(
            OVCocoMetric(ann_file=ann_file, novel_classes=('c', )),
            _perfect({0}))
    # labels follow the file's category order: another order is refused
    with pytest.raises(ValueError, match='in their order'):
        _evaluate(
            OVCocoMetric(ann_file=ann_file), _perfect({0}),
            dict(META, classes=('b', 'a', 'c', 'd')))
    with pytest.raises(ValueError, match='max_dets must be an int >= 1'):
        OVCocoMetric(max_dets=0)
    with pytest.raises(ValueError, match='proposal_nums is not used'):
        OVCocoMetric(proposal_nums=(100, ))


def test_classes_without_ground_truth_are_logged(tmp_path):
    gt = {1: [(0, (0, 0, 10, 10))], 2: [(2, (0, 0, 10, 10))]}
    metric = OVCocoMetric(ann_file=_write_gt(tmp_path / 'gt.json', gt))
    with collect_logs() as messages:
        _evaluate(metric, _perfect({0, 2}))
    assert any("classes ['b', 'd'] have no ground truth" in m
               for m in messages)


def test_agrees_with_mmdet_coco_metric_on_random_detections(tmp_path):
    # mmdet's AP50 is at proposal_nums[2] detections per image; restricted
    # to the base classes (labels 0 and 1 in both label spaces) it is the
    # base AP50
    from mmdet.evaluation import CocoMetric
    gen = torch.Generator().manual_seed(0)
    dets = {}
    for img_id in GT:
        xy = torch.rand(30, 2, generator=gen) * 25
        wh = 5 + torch.rand(30, 2, generator=gen) * 10
        boxes = torch.cat([xy, xy + wh], 1).tolist()
        labels = torch.randint(0, 4, (30, ), generator=gen).tolist()
        scores = torch.rand(30, generator=gen).tolist()
        dets[img_id] = list(zip(labels, boxes, scores))
        dets[img_id] += [(label, box, 0.5) for label, box in GT[img_id]]
    ann_file = _write_gt(tmp_path / 'gt.json')
    ours = _evaluate(OVCocoMetric(ann_file=ann_file, max_dets=20), dets)
    theirs = _evaluate(
        CocoMetric(ann_file=ann_file, proposal_nums=(1, 10, 20)), dets)
    assert 0 < ours['coco/bbox_AP50_all'] < 1
    assert ours['coco/bbox_AP50_all'] == pytest.approx(
        theirs['coco/bbox_mAP_50'], abs=5e-4)
    base = {i: [d for d in ds if d[0] < 2] for i, ds in dets.items()}
    theirs = _evaluate(
        CocoMetric(ann_file=ann_file, proposal_nums=(1, 10, 20)), base,
        dict(classes=('a', 'b')))
    assert ours['coco/bbox_AP50_base'] == pytest.approx(
        theirs['coco/bbox_mAP_50'], abs=5e-4)
