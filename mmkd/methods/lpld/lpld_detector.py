# Copyright (c) mmkd contributors. All rights reserved.
"""LPLD's source-free mean-teacher training of an mmdet two-stage
detector."""
import copy
import os.path as osp
from typing import Dict, List, Optional

import torch
from mmdet.structures.bbox import bbox2roi
from mmengine.model import BaseModel
from mmengine.structures import InstanceData
from torch import Tensor

from mmkd.models.distillers.taps import FeatureTaps
from mmkd.models.distillers.teacher import (build_model,
                                            load_teacher_checkpoint,
                                            resolve_model_cfg)
from mmkd.registry import MODELS
from mmkd.utils.checkpoint import load_checkpoint
from .mining import feature_weight, mine_low_confidence, refine_proposals

TEACHER_VIEW, STUDENT_VIEW = 'unsup_teacher', 'unsup_student'


def _check_source_classes(detector, source_ckpt: str,
                          error: Exception) -> None:
    """Raise an error naming the class counts when the source checkpoint,
    which failed to load with ``error``, was trained on other classes than
    the detector config has."""
    if not osp.isfile(source_ckpt):
        return  # a URL: the strict load reports mismatches
    state = load_checkpoint(source_ckpt, map_location='cpu',
                            key='source_ckpt')
    state = state.get('state_dict', state)
    key = next((k for k in state if k.endswith('bbox_head.fc_cls.weight')),
               None)
    if key is None:
        return
    num_classes = detector.roi_head.bbox_head.num_classes
    # fc_cls has K + 1 rows (background last) in mmdet's BBoxHead
    source_classes = state[key].shape[0] - 1
    if source_classes != num_classes:
        raise ValueError(
            f'source_ckpt {source_ckpt!r} has {source_classes} classes '
            f'({key}: {tuple(state[key].shape)}), the detector config '
            f'{num_classes}: adapt with the source model\'s classes (set '
            'roi_head.bbox_head.num_classes and the dataset classes)'
        ) from error


@MODELS.register_module()
class LPLDDetector(BaseModel):
    """Source-free domain adaptation of a two-stage detector with LPLD.

    Student and teacher start from the same source-trained detector. Each
    step (Yoon et al., ECCV 2024):

    1. the teacher (eval mode, no gradients) runs on the weak view: its RPN
       gives ``num_teacher_proposals`` proposals, its RoI head detections;
       those scoring ``> hpl_score_thr`` are the high-confidence pseudo
       labels (HPL);
    2. the student trains its RPN and RoI losses on the strong view with the
       HPL as ground truth;
    3. low-confidence pseudo labels (LPL) are mined among the teacher's
       proposals (:func:`refine_proposals`, :func:`mine_low_confidence`);
       on them the student's RoI logits (strong view) are pulled towards
       the teacher's (weak view) by :class:`LPLDLoss`, weighted by
       ``1 - cos`` of the two RoI features (:func:`feature_weight`).

    The teacher is updated by ``mmkd.MeanTeacherHook`` (LPLD: ``keep_rate=
    0.75, by_epoch=True``). Like the engine's teachers it is not a
    registered submodule (frozen, in eval mode, moved by ``.to()``, absent
    from ``parameters()`` and ``state_dict()``); the hook saves it in
    checkpoints once, under ``mean_teacher``, and restores it whenever the
    Runner loads one (resume, ``load_from``, ``tools/test.py`` with the
    training config, whose ``custom_hooks`` hold the hook). Checkpoints of
    earlier versions, with the teacher under ``teacher.`` in the state
    dict, still load.

    Distillation controls (see
    :class:`~mmkd.models.distillers.protocol.DistillControls`):
    ``distill_loss_scales['lpld']`` multiplies ``loss_lpld``
    (``mmkd.DistillLossWeightHook`` schedules it as ``lpld``);
    ``distill_enabled = False`` (``mmkd.StopDistillHook``) trains on the HPL
    alone from then on; the teacher still runs for the pseudo labels.

    Batches come from mmdet's ``MultiBranch`` with the branches
    ``'unsup_teacher'`` (weak) and ``'unsup_student'`` (strong,
    :class:`LPLDStrongAugment`) after a shared geometric pipeline. The
    target set's own labels are never used for training.

    Args:
        detector (dict): The mmdet two-stage detector config (or
            ``dict(cfg_path='mmdet::...')``), e.g. Faster R-CNN C4 or FPN.
        source_ckpt (str): The source-trained detector checkpoint, loaded
            strictly into student and teacher.
        hpl_score_thr (float): Defaults to 0.7.
        num_teacher_proposals (int): Teacher RPN proposals after NMS per
            image. Defaults to 300.
        mining (dict): ``iou_thr``, ``fg_score_thr``, ``bg_score_thr`` of
            :func:`mine_low_confidence`. Defaults to 0.4, 0.9, 0.99.
        loss_lpld (dict): Defaults to ``dict(type='mmkd.LPLDLoss')``.
        distill_lpl (bool): False trains the student on the HPL alone (the
            mean-teacher baseline of the paper): no mining, no
            ``loss_lpld``. Defaults to True.
        allow_target_labels (bool): Batches whose student view carries
            ground-truth boxes are refused, since source-free adaptation
            must not see target labels (a pipeline with ``LoadAnnotations``
            on the target set is a likely mistake); True accepts them, and
            they are still replaced by pseudo labels. Defaults to False.
        predict_on (str): ``'teacher'`` (the mean teacher, what mean-teacher
            adaptation reports) or ``'student'``: the model used for
            ``predict`` / ``tensor`` modes, i.e. validation and testing.
            Defaults to ``'teacher'``.
        data_preprocessor (dict, optional): mmdet's
            ``MultiBranchDataPreprocessor``; by default one wrapping the
            detector's own data preprocessor.
    """

    #: the config key of the student (tools/export_student.py)
    student_cfg_key = 'detector'

    def __init__(self,
                 detector: dict,
                 source_ckpt: str,
                 hpl_score_thr: float = 0.7,
                 num_teacher_proposals: int = 300,
                 mining: Optional[dict] = None,
                 loss_lpld: Optional[dict] = None,
                 distill_lpl: bool = True,
                 allow_target_labels: bool = False,
                 predict_on: str = 'teacher',
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if predict_on not in ('teacher', 'student'):
            raise ValueError("predict_on must be 'teacher' or 'student', "
                             f'got {predict_on!r}')
        detector_cfg = resolve_model_cfg(detector, 'detector')
        if data_preprocessor is None:
            inner = copy.deepcopy(detector_cfg.get('data_preprocessor'))
            if inner is None:
                raise KeyError('the detector config has no '
                               'data_preprocessor; give LPLDDetector one')
            if '_scope_' in detector_cfg and '.' not in str(inner['type']):
                inner['_scope_'] = detector_cfg['_scope_']
            data_preprocessor = dict(
                type='mmdet.MultiBranchDataPreprocessor',
                data_preprocessor=inner)
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.student = build_model(detector_cfg, 'detector')
        for attr in ('rpn_head', 'roi_head'):
            if not hasattr(self.student, attr):
                raise TypeError(
                    'LPLDDetector needs a two-stage detector with rpn_head '
                    f'and roi_head; {type(self.student).__name__} has no '
                    f'{attr}')
        try:
            load_teacher_checkpoint(self.student, source_ckpt,
                                    key='source_ckpt')
        except RuntimeError as error:
            # read the checkpoint again only to explain a class mismatch
            _check_source_classes(self.student, source_ckpt, error)
            raise
        teacher = copy.deepcopy(self.student)
        teacher.requires_grad_(False)
        teacher.eval()
        teacher.rpn_head.test_cfg.max_per_img = num_teacher_proposals
        # not a registered submodule, as the engine keeps teachers: out of
        # parameters(), state_dict(), the optimizer and DDP; MeanTeacherHook
        # checkpoints it once, under `mean_teacher`
        object.__setattr__(self, 'teacher', teacher)
        self._register_load_state_dict_pre_hook(self._load_legacy_teacher)
        self.hpl_score_thr = hpl_score_thr
        self.allow_target_labels = allow_target_labels
        self.distill_lpl = distill_lpl
        #: DistillControls: the multiplier of ``loss_lpld``, set by
        #: DistillLossWeightHook (no term to scale without distill_lpl)
        self.distill_loss_scales = {'lpld': 1.0} if distill_lpl else {}
        self._distill_enabled = distill_lpl
        self.predict_on = predict_on
        self.mining = dict(iou_thr=0.4, fg_score_thr=0.9, bg_score_thr=0.99)
        self.mining.update(mining or {})
        self.loss_lpld = MODELS.build(
            loss_lpld or dict(type='mmkd.LPLDLoss'))
        self._feat_taps = FeatureTaps(
            self.student,
            dict(feats='neck' if self.student.with_neck else 'backbone'))
        self._feat_taps.enabled = False

    @property
    def distill_enabled(self) -> bool:
        """Whether the step mines LPL and adds ``loss_lpld`` (the
        DistillControls switch of :class:`StopDistillHook`); False trains on
        the HPL alone, as ``distill_lpl=False`` does for the whole run."""
        return self.distill_lpl and self._distill_enabled

    @distill_enabled.setter
    def distill_enabled(self, enabled: bool) -> None:
        if enabled and not self.distill_lpl:
            raise ValueError(
                'LPLDDetector was built with distill_lpl=False (the HPL-only '
                'baseline): there is no LPL distillation to switch on; '
                'remove StopDistillHook or set distill_lpl=True')
        self._distill_enabled = bool(enabled)

    def _load_legacy_teacher(self, state_dict: dict, prefix: str,
                             *args) -> None:
        """Load ``teacher.*`` keys of checkpoints written while the teacher
        was a registered submodule into the teacher (strictly)."""
        legacy = prefix + 'teacher.'
        keys = [k for k in state_dict if k.startswith(legacy)]
        if keys:
            self.teacher.load_state_dict(
                {k[len(legacy):]: state_dict.pop(k) for k in keys},
                strict=True)

    # the teacher is outside the module tree: move it with the model
    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        self.teacher._apply(fn, *args, **kwargs)
        return self

    def _set_device(self, device: torch.device) -> None:
        super()._set_device(device)
        self.teacher._set_device(device)

    def init_weights(self) -> None:
        """Nothing to initialise: student and teacher are the source
        detector (the Runner's call would otherwise re-draw them)."""

    def train(self, mode: bool = True) -> 'LPLDDetector':
        super().train(mode)
        self.teacher.eval()  # always in inference mode (test-time RPN)
        return self

    def forward(self, inputs, data_samples=None, mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        model = self.teacher if self.predict_on == 'teacher' else self.student
        return model(inputs, data_samples, mode=mode)

    @torch.no_grad()
    def teacher_outputs(self, inputs: Tensor, data_samples: list) -> dict:
        """Teacher proposals, detections, RoI logits and RoI features on
        the weak view (boxes in the resized-image frame)."""
        roi_head = self.teacher.roi_head
        feats = self.teacher.extract_feat(inputs)
        proposals = self.teacher.rpn_head.predict(
            feats, data_samples, rescale=False)
        rois = bbox2roi([p.bboxes for p in proposals])
        roi_out = roi_head._bbox_forward(feats, rois)
        if len(rois) == 0:  # mmdet's predict builds empty detections
            detections = roi_head.predict(
                feats, proposals, data_samples, rescale=False)
        else:
            # detections from the same RoI forward (what roi_head.predict
            # would compute a second time)
            counts = tuple(len(p) for p in proposals)
            detections = roi_head.bbox_head.predict_by_feat(
                rois=rois.split(counts),
                cls_scores=roi_out['cls_score'].split(counts),
                bbox_preds=roi_out['bbox_pred'].split(counts),
                batch_img_metas=[s.metainfo for s in data_samples],
                rcnn_test_cfg=roi_head.test_cfg,
                rescale=False)
        return dict(
            proposals=proposals,
            detections=detections,
            rois=rois,
            cls_score=roi_out['cls_score'],
            bbox_pred=roi_out['bbox_pred'],
            roi_feats=roi_out['bbox_feats'])

    def teacher_forward(self, multi_inputs: Dict[str, Tensor],
                        multi_data_samples: Dict[str, list]) -> dict:
        """The teacher's part of a step, :meth:`teacher_outputs` on the
        weak view of a preprocessed batch (what
        ``tools/analysis_tools/distill_profile.py`` times as teacher
        inference)."""
        return self.teacher_outputs(multi_inputs[TEACHER_VIEW],
                                    multi_data_samples[TEACHER_VIEW])

    def pseudo_labelled(self, data_samples: list,
                        detections: List[InstanceData]) -> list:
        """Copies of the student's data samples whose ground truth is the
        teacher's confident detections (the real labels are dropped)."""
        labelled = []
        for sample, det in zip(data_samples, detections):
            sample = copy.copy(sample)
            keep = det.scores > self.hpl_score_thr
            sample.gt_instances = InstanceData(
                bboxes=det.bboxes[keep], labels=det.labels[keep])
            if 'ignored_instances' in sample:
                del sample.ignored_instances
            labelled.append(sample)
        return labelled

    def mine(self, teacher: dict, hpl_samples: list) -> Tensor:
        """Bool mask over the teacher's proposals (all images) of the
        low-confidence pseudo labels."""
        decode = self.teacher.roi_head.bbox_head.bbox_coder.decode
        refined = refine_proposals(teacher['rois'][:, 1:],
                                   teacher['cls_score'],
                                   teacher['bbox_pred'], decode)
        keep = torch.zeros(len(refined), dtype=torch.bool,
                           device=refined.device)
        for i, sample in enumerate(hpl_samples):
            in_image = teacher['rois'][:, 0] == i
            keep[in_image] = mine_low_confidence(
                refined[in_image], teacher['cls_score'][in_image],
                sample.gt_instances.bboxes, **self.mining)
        return keep

    def loss(self, multi_inputs: Dict[str, Tensor],
             multi_data_samples: Dict[str, list]) -> Dict[str, Tensor]:
        """Student RPN/RoI losses on HPL plus ``loss_lpld``."""
        for view in (TEACHER_VIEW, STUDENT_VIEW):
            if view not in multi_inputs:
                raise KeyError(
                    f'LPLDDetector needs the {view!r} view in each batch '
                    "(mmdet's MultiBranch with branch_field=['unsup_teacher',"
                    f" 'unsup_student']); got {sorted(multi_inputs)}")
        if not self.allow_target_labels and any(
                len(s.get('gt_instances', ())) > 0
                for s in multi_data_samples[STUDENT_VIEW]):
            raise ValueError(
                'the target training batch carries ground-truth boxes: '
                'source-free adaptation must not train on target labels. '
                'Remove LoadAnnotations from the target training pipeline '
                '(and filter_empty_gt from its filter_cfg), or set '
                'allow_target_labels=True (they are replaced by pseudo '
                'labels either way)')
        teacher = self.teacher_forward(multi_inputs, multi_data_samples)
        hpl_samples = self.pseudo_labelled(
            multi_data_samples[STUDENT_VIEW], teacher['detections'])
        distill = self.distill_enabled
        # the student's features are kept only for the LPL RoI forward
        with self._feat_taps.switched(distill):
            losses = self.student.loss(multi_inputs[STUDENT_VIEW],
                                       hpl_samples)
        losses['num_hpl'] = teacher['rois'].new_tensor(
            float(sum(len(s.gt_instances) for s in hpl_samples)))
        if not distill:
            return losses
        student_feats = self._feat_taps.pop()['feats']
        keep = self.mine(teacher, hpl_samples)
        rois = teacher['rois'][keep]
        student_roi = self.student.roi_head._bbox_forward(student_feats, rois)
        weight = feature_weight(student_roi['bbox_feats'],
                                teacher['roi_feats'][keep])
        losses['loss_lpld'] = self.distill_loss_scales['lpld'] * \
            self.loss_lpld(student_roi['cls_score'],
                           teacher['cls_score'][keep], weight)
        losses['num_lpl'] = teacher['rois'].new_tensor(float(keep.sum()))
        return losses
