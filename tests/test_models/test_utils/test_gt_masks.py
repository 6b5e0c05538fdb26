# Copyright (c) mmkd contributors. All rights reserved.
"""Ground-truth mask builders on hand-made boxes and label maps."""
import math

import pytest
import torch
from mmcv.ops import points_in_boxes_cpu
from mmdet3d.structures import Det3DDataSample, LiDARInstance3DBoxes
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData, PixelData
from mmseg.structures import SegDataSample

from mmkd.models.utils import (BEVBoxFootprintMask, ImageBoxMask,
                               SegClassMask, gaussian_box_mask,
                               rotated_box_footprint)
from mmkd.registry import TASK_UTILS

PCR = [0., 0., -2., 8., 8., 2.]


def lidar_sample(boxes, path='lidar/000.bin'):
    sample = Det3DDataSample(metainfo=dict(lidar_path=path))
    sample.gt_instances_3d = InstanceData(
        bboxes_3d=LiDARInstance3DBoxes(torch.tensor(boxes).view(-1, 7)))
    return sample


def test_axis_aligned_footprint_by_hand():
    # a 2 m x 4 m box centred at (3, 5) on 1 m cells covers x in [2, 4],
    # y in [3, 7]: cell centres x = 2.5, 3.5 and y = 3.5 .. 6.5
    mask = BEVBoxFootprintMask(PCR)([lidar_sample([3, 5, 0, 2, 4, 1, 0])],
                                    (8, 8), 'cpu')
    assert mask.shape == (1, 1, 8, 8)
    expected = torch.zeros(8, 8)
    expected[3:7, 2:4] = 1  # rows are y
    assert torch.equal(mask[0, 0], expected)


def test_rotated_footprint_equals_points_in_boxes():
    torch.manual_seed(0)
    boxes = torch.tensor([[4.1, 3.7, 0., 4., 1.5, 1., 0.6],
                          [1.5, 6.0, 0., 1., 2.5, 1., -2.2]])
    mask = rotated_box_footprint([boxes], (32, 32), PCR)[0]
    cells = (torch.arange(32) + 0.5) * 8 / 32
    py, px = torch.meshgrid(cells, cells, indexing='ij')
    points = torch.stack([px, py, torch.full_like(px, 0.5)], -1).view(1, -1, 3)
    inside = points_in_boxes_cpu(points, boxes[None]).any(-1).view(32, 32)
    assert 0 < mask.sum() < 32 * 32
    assert torch.equal(mask.bool(), inside)
    # 0.5 m more on each half-extent: a superset
    grown = rotated_box_footprint([boxes], (32, 32), PCR, enlarge=0.5)[0]
    assert grown.sum() > mask.sum() and torch.all(grown >= mask)


def test_gaussian_centre_mask_drops_boxes_off_the_grid():
    builder = TASK_UTILS.build(
        dict(type='mmkd.BEVGaussianCenterMask', point_cloud_range=PCR))
    inside = [4.5, 4.5, 0, 2, 2, 1, 0.3]
    mask = builder([lidar_sample([inside, [20, 20, 0, 2, 2, 1, 0]])], (8, 8),
                   'cpu')
    expected = gaussian_box_mask([torch.tensor([inside])], (8, 8), PCR)
    assert torch.equal(mask[:, 0], expected)
    assert mask[0, 0, 4, 4] == 1


def test_image_box_mask_maps_pixels_to_cells():
    sample = DetDataSample(metainfo=dict(batch_input_shape=(32, 64),
                                         img_shape=(30, 60)))
    sample.gt_instances = InstanceData(
        bboxes=torch.tensor([[0., 0., 16., 8.]]))
    mask = ImageBoxMask()([sample], (4, 8), 'cpu')[0, 0]
    # 8 px cells: centres at 4 and 12 px in x lie in [0, 16], 4 px in y
    expected = torch.zeros(4, 8)
    expected[0, :2] = 1
    assert torch.equal(mask, expected)


def test_seg_class_mask():
    labels = torch.tensor([[[0, 1, 1, 255], [2, 2, 1, 0]]])
    sample = SegDataSample()
    sample.gt_sem_seg = PixelData(data=labels)
    assert SegClassMask(classes=[1])([sample], (2, 4), 'cpu')[0, 0].tolist() \
        == [[0, 1, 1, 0], [0, 0, 1, 0]]
    assert SegClassMask()([sample], (2, 4), 'cpu')[0, 0].tolist() == \
        [[1, 1, 1, 0], [1, 1, 1, 1]]
    # stride 2: nearest neighbours of the label map
    assert SegClassMask(classes=[2])([sample], (1, 2), 'cpu').shape == \
        (1, 1, 1, 2)


def test_missing_ground_truth_is_named():
    sample = Det3DDataSample(metainfo=dict(lidar_path='sweeps/0042.bin'))
    with pytest.raises(KeyError, match=r"BEVBoxFootprintMask needs "
                       r"gt_instances_3d.bboxes_3d .* 'sweeps/0042.bin' has "
                       r"no 'gt_instances_3d'"):
        BEVBoxFootprintMask(PCR)([sample], (8, 8), 'cpu')
    with pytest.raises(ValueError, match='point_cloud_range must be'):
        BEVBoxFootprintMask([0, 0, 0, -1, 1, 1])
    with pytest.raises(ValueError, match='none were given'):
        SegClassMask()(None, (2, 2), 'cpu')
    assert math.isclose(BEVBoxFootprintMask(PCR, enlarge=0.25).enlarge, 0.25)
