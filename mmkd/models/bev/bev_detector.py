# Copyright (c) mmkd contributors. All rights reserved.
"""One BEV detector for LiDAR, camera and fusion inputs."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmdet3d.models.detectors import Base3DDetector
from mmdet3d.registry import MODELS as MMDET3D_MODELS
from mmdet3d.structures import Det3DDataSample
from torch import Tensor

from mmkd.registry import MODELS


def _build(cfg: Optional[dict]):
    # parts are mmdet3d's (or prefixed: 'mmdet.ResNet', 'mmkd.ConvFuser'),
    # whatever the default scope this detector is built in (mmkd's, as a
    # distiller's student or teacher)
    if cfg is None or isinstance(cfg, nn.Module):
        return cfg
    cfg = dict(cfg)
    cfg.setdefault('_scope_', 'mmdet3d')
    return MMDET3D_MODELS.build(cfg)


def _as_4x4(mats: Sequence, device: torch.device) -> Tensor:
    """Stack 3x3 or 4x4 matrices (one per view) into (N, 4, 4)."""
    out = []
    for m in mats:
        m = torch.as_tensor(m, dtype=torch.float32, device=device)
        full = torch.eye(4, device=device)
        full[:m.shape[0], :m.shape[1]] = m
        out.append(full)
    return torch.stack(out)


@MODELS.register_module()
class BEVDetector(Base3DDetector):
    """A bird's-eye-view 3D detector with a LiDAR branch, a camera branch or
    both, then one BEV backbone, neck and head.

    - LiDAR: ``pts_voxel_encoder`` + ``pts_middle_encoder`` on the voxels of
      the data preprocessor (pillars or sparse voxels, as CenterPoint).
    - Camera: ``img_backbone`` + ``img_neck`` on every view, then
      ``view_transform`` (e.g. :class:`LSSViewTransform`) to the BEV grid.
    - Both: ``fusion_layer`` (e.g. :class:`ConvFuser`) on the camera and the
      LiDAR map, in that order.

    The module names follow mmdet3d's BEVFusion project, so a distiller taps
    ``pts_middle_encoder`` / ``view_transform`` / ``fusion_layer`` (the
    encoder BEV map), ``pts_neck`` and ``bbox_head`` of any path.

    Args:
        pts_backbone (dict): BEV backbone, e.g. ``SECOND``.
        bbox_head (dict): BEV head holding its ``train_cfg``/``test_cfg``,
            e.g. ``CenterHead``.
        pts_neck (dict, optional): BEV neck, e.g. ``SECONDFPN``.
        pts_voxel_encoder, pts_middle_encoder (dict, optional): LiDAR branch.
        img_backbone, img_neck, view_transform (dict, optional): Camera
            branch; ``img_neck`` may return several levels, of which
            ``img_feat_level`` goes to the view transform.
        fusion_layer (dict, optional): Required with both branches.
        img_feat_level (int): Defaults to 0.
        data_preprocessor (dict, optional): ``Det3DDataPreprocessor``.
        init_cfg (dict, optional): Initialization config.
    """

    def __init__(self,
                 pts_backbone: dict,
                 bbox_head: dict,
                 pts_neck: Optional[dict] = None,
                 pts_voxel_encoder: Optional[dict] = None,
                 pts_middle_encoder: Optional[dict] = None,
                 img_backbone: Optional[dict] = None,
                 img_neck: Optional[dict] = None,
                 view_transform: Optional[dict] = None,
                 fusion_layer: Optional[dict] = None,
                 img_feat_level: int = 0,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            data_preprocessor=_build(data_preprocessor), init_cfg=init_cfg)
        lidar = [pts_voxel_encoder, pts_middle_encoder]
        camera = [img_backbone, view_transform]
        self.with_lidar = all(c is not None for c in lidar)
        self.with_camera = all(c is not None for c in camera)
        if any(c is not None for c in lidar) and not self.with_lidar:
            raise ValueError('BEVDetector: the LiDAR branch needs both '
                             'pts_voxel_encoder and pts_middle_encoder')
        if any(c is not None for c in camera + [img_neck]) and \
                not self.with_camera:
            raise ValueError('BEVDetector: the camera branch needs both '
                             'img_backbone and view_transform')
        if not (self.with_lidar or self.with_camera):
            raise ValueError('BEVDetector needs a LiDAR branch '
                             '(pts_voxel_encoder, pts_middle_encoder) or a '
                             'camera branch (img_backbone, view_transform)')
        both = self.with_lidar and self.with_camera
        if both != (fusion_layer is not None):
            raise ValueError(
                'BEVDetector: fusion_layer is required with both the LiDAR '
                'and the camera branch, and only then' if both else
                'BEVDetector: fusion_layer is given but only the '
                f'{"LiDAR" if self.with_lidar else "camera"} branch is')
        self.pts_voxel_encoder = _build(pts_voxel_encoder)
        self.pts_middle_encoder = _build(pts_middle_encoder)
        self.img_backbone = _build(img_backbone)
        self.img_neck = _build(img_neck)
        self.view_transform = _build(view_transform)
        self.fusion_layer = _build(fusion_layer)
        self.img_feat_level = img_feat_level
        self.pts_backbone = _build(pts_backbone)
        self.pts_neck = _build(pts_neck)
        self.bbox_head = _build(bbox_head)

    def extract_lidar_bev(self, voxel_dict: dict, batch_size: int) -> Tensor:
        """The LiDAR BEV map, (B, C, Y, X)."""
        feats = self.pts_voxel_encoder(voxel_dict['voxels'],
                                       voxel_dict['num_points'],
                                       voxel_dict['coors'])
        return self.pts_middle_encoder(feats, voxel_dict['coors'],
                                       batch_size)

    def extract_camera_bev(self, imgs: Tensor,
                           batch_input_metas: List[dict]) -> Tensor:
        """The camera BEV map from (B, N, 3, H, W) images."""
        if imgs.dim() != 5:
            raise ValueError(
                'BEVDetector: the camera branch expects multi-view images of '
                f'shape (B, N, 3, H, W), got {tuple(imgs.shape)}; load them '
                'with LoadMultiViewImageFromFiles')
        B, N = imgs.shape[:2]
        x = self.img_backbone(imgs.flatten(0, 1))
        if self.img_neck is not None:
            x = self.img_neck(x)
        if isinstance(x, (list, tuple)):
            x = x[self.img_feat_level]
        cam2img = torch.stack([
            _as_4x4(meta['cam2img'], imgs.device)
            for meta in batch_input_metas
        ])
        lidar2cam = torch.stack([
            _as_4x4(meta['lidar2cam'], imgs.device)
            for meta in batch_input_metas
        ])
        if cam2img.shape[1] != N:
            raise ValueError(
                f'BEVDetector: {N} images per sample but {cam2img.shape[1]} '
                'cam2img matrices in the metainfo')
        return self.view_transform(x, cam2img, lidar2cam)

    def extract_feat(self, batch_inputs_dict: dict,
                     batch_input_metas: List[dict]) -> Tuple[Tensor]:
        """BEV neck features of a batch."""
        maps = []
        if self.with_camera:
            if batch_inputs_dict.get('imgs') is None:
                raise KeyError("BEVDetector's camera branch found no 'imgs' "
                               'in its inputs: add LoadMultiViewImageFromFiles'
                               " and pack 'img'")
            maps.append(
                self.extract_camera_bev(batch_inputs_dict['imgs'],
                                        batch_input_metas))
        if self.with_lidar:
            if batch_inputs_dict.get('voxels') is None:
                raise KeyError(
                    "BEVDetector's LiDAR branch found no 'voxels' in its "
                    'inputs: the data_preprocessor needs voxel=True and a '
                    'voxel_layer')
            voxels = batch_inputs_dict['voxels']
            batch_size = len(batch_input_metas) or int(
                voxels['coors'][-1, 0]) + 1
            maps.append(self.extract_lidar_bev(voxels, batch_size))
        bev = self.fusion_layer(maps) if self.fusion_layer else maps[0]
        x = self.pts_backbone(bev)
        if self.pts_neck is not None:
            x = self.pts_neck(x)
        return x if isinstance(x, (list, tuple)) else [x]

    def loss(self, batch_inputs_dict: dict,
             batch_data_samples: List[Det3DDataSample]) -> Dict[str, Tensor]:
        metas = [s.metainfo for s in batch_data_samples]
        feats = self.extract_feat(batch_inputs_dict, metas)
        return self.bbox_head.loss(feats, batch_data_samples)

    def predict(self, batch_inputs_dict: dict,
                batch_data_samples: List[Det3DDataSample]
                ) -> List[Det3DDataSample]:
        metas = [s.metainfo for s in batch_data_samples]
        feats = self.extract_feat(batch_inputs_dict, metas)
        results = self.bbox_head.predict(feats, batch_data_samples)
        return self.add_pred_to_datasample(batch_data_samples, results)

    def _forward(self, batch_inputs_dict: dict,
                 batch_data_samples: Optional[List[Det3DDataSample]] = None):
        metas = [s.metainfo for s in batch_data_samples or []]
        return self.bbox_head(self.extract_feat(batch_inputs_dict, metas))
