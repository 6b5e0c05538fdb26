# Copyright (c) mmkd contributors. All rights reserved.
"""X-Ray's optional detection term: the teacher's confident boxes on its
Object-Complete cloud become extra targets of the student's own loss.

Summaries of the paper name knowledge distillation on heads, embeddings
and detections; the first two are the engine's feature losses
(configs/_base_/distill/xray_centerpoint.py), this is the third. Off by
default (no released code; docs/methods/xray.md).
"""
import contextlib
from typing import Any, List, Optional, Sequence

import torch

from mmkd.models.distillers import DistillModel
from mmkd.registry import MODELS


def append_teacher_boxes(data_samples: Sequence[Any],
                         predictions: Sequence[Any],
                         score_thr: float) -> List[int]:
    """Append each prediction's boxes scored ``>= score_thr`` to its
    sample's ``gt_instances_3d`` (boxes and labels), in place.

    The teacher and the student see the same sample under the same
    augmentation (X-Ray's teacher view), so the boxes need no transform.

    Args:
        data_samples (Sequence[Det3DDataSample]): The student's samples.
        predictions (Sequence[Det3DDataSample]): The teacher's, in the same
            order, with ``pred_instances_3d`` (``bboxes_3d``,
            ``scores_3d``, ``labels_3d``).
        score_thr (float): Lowest score kept.

    Returns:
        list[int]: The number of boxes added to each sample.
    """
    if len(data_samples) != len(predictions):
        raise ValueError(f'append_teacher_boxes: {len(predictions)} '
                         f'predictions for {len(data_samples)} samples')
    added = []
    for sample, prediction in zip(data_samples, predictions):
        pred = prediction.pred_instances_3d
        keep = pred.scores_3d >= score_thr
        gt = sample.gt_instances_3d
        boxes = pred.bboxes_3d[keep.to(pred.bboxes_3d.tensor.device)]
        if boxes.box_dim != gt.bboxes_3d.box_dim:
            raise ValueError(
                f'the teacher predicts {boxes.box_dim}-d boxes, the '
                f'ground truth has {gt.bboxes_3d.box_dim}-d ones: the X-Ray '
                'detection term needs the same box coder in both')
        others = set(gt.keys()) - {'bboxes_3d', 'labels_3d'}
        if others:
            raise ValueError(
                f'the ground truth has fields {sorted(others)} besides '
                'boxes and labels; the X-Ray detection term cannot give '
                "the teacher's boxes values for them")
        device = gt.bboxes_3d.tensor.device
        sample.gt_instances_3d = gt.new(
            bboxes_3d=type(gt.bboxes_3d).cat([gt.bboxes_3d,
                                              boxes.to(device)]),
            labels_3d=torch.cat(
                [gt.labels_3d, pred.labels_3d[keep].to(gt.labels_3d)]))
        added.append(int(keep.sum()))
    return added


@MODELS.register_module()
class XRayDistillModel(DistillModel):
    """:class:`~mmkd.models.distillers.DistillModel` with X-Ray's detection
    term: before each training step the teacher predicts on its view (the
    Object-Complete cloud), with its taps off, and its boxes scored at
    least ``detection_term['score_thr']`` are appended to the student's
    ground truth. The usual feature and response losses are unchanged.

    Args:
        detection_term (dict, optional): ``dict(score_thr=0.3)``; None
            (default): no detection term, as ``DistillModel``.
        **kwargs: :class:`~mmkd.models.distillers.DistillModel`'s.
    """

    def __init__(self,
                 *args,
                 detection_term: Optional[dict] = None,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if detection_term is not None:
            unknown = set(detection_term) - {'score_thr'}
            if unknown or 'score_thr' not in detection_term:
                raise KeyError(
                    'XRayDistillModel: detection_term takes score_thr only, '
                    f'got {sorted(detection_term)}')
            if not 0 < detection_term['score_thr'] <= 1:
                raise ValueError(
                    'XRayDistillModel: detection_term.score_thr must be in '
                    f'(0, 1], got {detection_term["score_thr"]}')
        self.detection_term = detection_term

    def loss(self,
             inputs: Any,
             data_samples: Optional[list] = None,
             teacher_inputs: Any = None) -> dict:
        """The teacher's boxes join the ground truth, then
        :meth:`DistillModel.loss`; ``xray.teacher_boxes`` logs how many
        per sample."""
        added = None
        if self.detection_term is not None and not self.eval_only:
            added = self.add_teacher_boxes(
                inputs if teacher_inputs is None else teacher_inputs,
                data_samples)
        losses = super().loss(inputs, data_samples, teacher_inputs)
        if added is not None:
            losses['xray.teacher_boxes'] = torch.tensor(
                sum(added) / max(len(added), 1))
        return losses

    @torch.no_grad()
    def add_teacher_boxes(self, teacher_inputs: Any,
                          data_samples: list) -> List[int]:
        """Run the teacher in predict mode (taps off) on copies of the
        samples and append its confident boxes to ``data_samples``."""
        teacher = self.teacher
        if teacher is None:
            raise RuntimeError('XRayDistillModel: the detection term needs '
                               'the teacher model (not a teacher cache)')
        taps = self.distiller.teacher_taps
        with (taps.switched(False)
              if taps is not None else contextlib.nullcontext()):
            predictions = teacher(
                teacher_inputs, [s.clone() for s in data_samples],
                mode='predict')
        return append_teacher_boxes(data_samples, predictions,
                                    self.detection_term['score_thr'])
