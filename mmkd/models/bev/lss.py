# Copyright (c) mmkd contributors. All rights reserved.
"""Lift-splat-shoot (Philion & Fidler, ECCV 2020) for multi-view cameras."""
from typing import Sequence

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor

from mmkd.registry import MODELS


@MODELS.register_module()
class LSSViewTransform(BaseModule):
    """Lift image features to a categorical depth frustum and splat it on a
    BEV grid.

    Each feature cell predicts a softmax over ``depth_bound`` bins and a
    context vector; their outer product is placed at the 3D points of the
    cell's ray at each bin (through the augmented ``cam2img`` and
    ``lidar2cam`` of its view) and summed into the BEV cell (and the one
    height interval ``point_cloud_range[2:6:3]``) it falls in. This is the
    camera branch of BEVDepth-style detectors without depth supervision,
    which is what UniDistill's camera encoder is.

    Args:
        in_channels (int): Channels of the image feature map.
        out_channels (int): Channels of the BEV map (the context vector).
        image_size (tuple[int]): (H, W) of the network's input images.
        feature_stride (int): Stride of the image feature map.
        depth_bound (tuple[float]): (start, stop, step) of the depth bins in
            metres.
        point_cloud_range (list[float]): (x0, y0, z0, x1, y1, z1) of the BEV
            map in the LiDAR frame.
        bev_cell_size (tuple[float]): (x, y) size of a BEV cell in metres.
        mid_channels (int, optional): Channels of a 3x3 conv + BN + ReLU
            before the depth net's 1x1 conv. Defaults to None (the 1x1 conv
            alone, as UniDistill).
        init_cfg (dict, optional): Initialization config. Defaults to None.

    Shapes:
        - img_feats: (B * N, in_channels, H / stride, W / stride).
        - cam2img, lidar2cam: (B, N, 4, 4).
        - output: (B, out_channels, Y, X), rows along y as mmdet3d's BEV maps.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 image_size: Sequence[int],
                 feature_stride: int,
                 depth_bound: Sequence[float],
                 point_cloud_range: Sequence[float],
                 bev_cell_size: Sequence[float],
                 mid_channels: int = None,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.image_size = tuple(image_size)
        self.feature_stride = feature_stride
        self.point_cloud_range = [float(v) for v in point_cloud_range]
        self.bev_cell_size = [float(v) for v in bev_cell_size]
        x0, y0, _, x1, y1, _ = self.point_cloud_range
        nx = (x1 - x0) / self.bev_cell_size[0]
        ny = (y1 - y0) / self.bev_cell_size[1]
        if abs(nx - round(nx)) > 1e-4 or abs(ny - round(ny)) > 1e-4:
            raise ValueError(
                f'LSSViewTransform: point_cloud_range {point_cloud_range} is '
                f'not a whole number of bev_cell_size {bev_cell_size} cells')
        self.bev_shape = (int(round(ny)), int(round(nx)))
        h, w = self.image_size
        if h % feature_stride or w % feature_stride:
            raise ValueError(
                f'LSSViewTransform: image_size {self.image_size} is not a '
                f'multiple of feature_stride {feature_stride}')
        depths = torch.arange(*depth_bound, dtype=torch.float32)
        if depths.numel() == 0:
            raise ValueError(f'LSSViewTransform: depth_bound {depth_bound} '
                             'gives no depth bins')
        self.num_depth = depths.numel()
        self.register_buffer(
            'frustum', self._frustum(depths), persistent=False)

        out = self.num_depth + out_channels
        if mid_channels is None:
            # UniDistill's camera encoder: one 1x1 conv
            self.depth_net = nn.Conv2d(in_channels, out, 1)
        else:
            self.depth_net = nn.Sequential(
                ConvModule(
                    in_channels,
                    mid_channels,
                    3,
                    padding=1,
                    norm_cfg=dict(type='BN2d')), nn.Conv2d(mid_channels, out,
                                                           1))

    def _frustum(self, depths: Tensor) -> Tensor:
        """(D, h, w, 4) homogeneous (u * d, v * d, d, 1) of every feature
        cell's centre pixel at every depth bin."""
        h, w = (s // self.feature_stride for s in self.image_size)
        stride = self.feature_stride
        v = (torch.arange(h, dtype=torch.float32) + 0.5) * stride - 0.5
        u = (torch.arange(w, dtype=torch.float32) + 0.5) * stride - 0.5
        d, v, u = torch.meshgrid(depths, v, u, indexing='ij')
        return torch.stack([u * d, v * d, d, torch.ones_like(d)], dim=-1)

    def lidar_points(self, cam2img: Tensor, lidar2cam: Tensor) -> Tensor:
        """LiDAR-frame points of the frustum, (B, N, D, h, w, 3)."""
        img2lidar = torch.linalg.inv(lidar2cam) @ torch.linalg.inv(cam2img)
        points = torch.einsum('bnij,dhwj->bndhwi', img2lidar, self.frustum)
        return points[..., :3]

    def forward(self, img_feats: Tensor, cam2img: Tensor,
                lidar2cam: Tensor) -> Tensor:
        B, N = cam2img.shape[:2]
        if img_feats.shape[0] != B * N or img_feats.shape[1] != \
                self.in_channels:
            raise ValueError(
                f'LSSViewTransform expects image features of shape (B * N = '
                f'{B * N}, {self.in_channels}, h, w), got '
                f'{tuple(img_feats.shape)}')
        if tuple(img_feats.shape[2:]) != tuple(self.frustum.shape[1:3]):
            raise ValueError(
                f'LSSViewTransform: image features are '
                f'{tuple(img_feats.shape[2:])} cells but image_size '
                f'{self.image_size} / feature_stride {self.feature_stride} '
                f'gives {tuple(self.frustum.shape[1:3])}; set image_size to '
                "the pipeline's final image size")
        x = self.depth_net(img_feats)
        depth = x[:, :self.num_depth].softmax(dim=1)
        context = x[:, self.num_depth:]
        # (B*N, D, h, w, C)
        volume = depth.unsqueeze(-1) * context.permute(0, 2, 3, 1)[:, None]
        points = self.lidar_points(cam2img, lidar2cam)
        return self.splat(volume.reshape(B, -1, self.out_channels),
                          points.reshape(B, -1, 3))

    def splat(self, feats: Tensor, points: Tensor) -> Tensor:
        """Sum point features into BEV cells.

        Args:
            feats (Tensor): (B, P, C) features.
            points (Tensor): (B, P, 3) LiDAR-frame coordinates.

        Returns:
            Tensor: (B, C, Y, X) BEV map.
        """
        B, _, C = feats.shape
        ny, nx = self.bev_shape
        x0, y0, z0, x1, y1, z1 = self.point_cloud_range
        ix = torch.floor((points[..., 0] - x0) / self.bev_cell_size[0])
        iy = torch.floor((points[..., 1] - y0) / self.bev_cell_size[1])
        z = points[..., 2]
        keep = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny) & (z >= z0) & (
            z < z1)
        batch = torch.arange(B, device=feats.device)[:, None].expand_as(ix)
        index = (batch * ny + iy.long()) * nx + ix.long()
        bev = feats.new_zeros(B * ny * nx, C)
        bev.index_add_(0, index[keep], feats[keep])
        return bev.view(B, ny, nx, C).permute(0, 3, 1, 2).contiguous()
