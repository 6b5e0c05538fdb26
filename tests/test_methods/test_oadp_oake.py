# Copyright (c) mmkd contributors. All rights reserved.
"""OADP's OAKE: the global, block and object views, the proposal file
format and the frozen teacher."""
import math
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from clip_standins import random_openai_clip
from mmengine.structures import InstanceData

from mmkd.methods.oadp import (OAKE, ProposalSample, block0_box, block_layout,
                               block_view, expand_boxes, load_proposals,
                               object_masks, object_view, partition,
                               valid_proposals)
from mmkd.models.clip import (CLIPImageTower, clip_normalize, clip_square,
                              crop_image, resize_image)

# ViT-B/32's geometry (patch 32, 224 px) at a tiny width
ARCH = dict(
    vision_width=64, vision_layers=1, patch_size=32, grid=7, embed_dim=16)


def _image(h, w, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (3, h, w), generator=gen, dtype=torch.uint8)


def test_partition_takes_the_fewest_windows_with_stride_at_most_112():
    assert partition(223) == []
    assert partition(224) == [0]
    assert partition(336) == [0, 112]
    # 113 px to cover: two strides, the first one pixel longer
    assert partition(337) == [0, 57, 113]
    assert partition(640) == [0, 104, 208, 312, 416]
    assert partition(480) == [0, 86, 171, 256]


def test_640x480_gives_27_blocks():
    levels = block_layout(640, 480)
    # 5 x 4 windows, then 426 x 320 (3 x 2), then 284 x 213: none fits
    assert [(w, h, len(o)) for w, h, o in levels] == [(640, 480, 20),
                                                      (426, 320, 6)]
    image = _image(480, 640)
    blocks, boxes = block_view(image)
    assert blocks.shape == (27, 3, 224, 224) and boxes.shape == (27, 4)
    # block 0 is CLIP's Resize + CenterCrop of the whole image
    assert torch.equal(blocks[0], clip_square(image))
    assert boxes[0].tolist() == [80, 0, 560, 480]
    # windows x-major; a window of level 0 is the image's pixels
    assert boxes[1].tolist() == [0, 0, 224, 224]
    assert boxes[2].tolist() == [0, 86, 224, 310]
    assert torch.equal(blocks[2], image[:, 86:310, 0:224])
    # level 1: the image shrunk to 426 x 320, boxes scaled back exactly
    level = resize_image(image, (320, 426))
    assert torch.equal(blocks[-1], level[:, 96:320, 202:426])
    assert torch.allclose(boxes[-1],
                          torch.tensor([202 * 640 / 426, 96 * 1.5, 640, 480]))


def test_block0_box_default_and_faithful():
    assert block0_box(640, 480) == (80, 0, 560, 480)
    assert block0_box(300, 500) == (0, 100, 300, 400)
    # official main writes the centre square's x, y, w, h where x1, y1,
    # x2, y2 are read
    assert block0_box(640, 480, faithful=True) == (80, 0, 480, 480)
    assert block0_box(300, 500, faithful=True) == (0, 100, 300, 300)
    _, boxes = block_view(_image(480, 640), faithful_block0_box=True)
    assert boxes[0].tolist() == [80, 0, 480, 480]
    assert boxes.shape == (27, 4)


def test_small_images_give_block0_only():
    blocks, boxes = block_view(_image(100, 150))
    assert blocks.shape == (1, 3, 224, 224)
    assert boxes.tolist() == [[25, 0, 125, 100]]


def test_square_crops_of_side_sqrt_8_area():
    boxes = torch.tensor([
        [100., 100., 110., 120.],  # inside: centred
        [0., 0., 10., 20.],  # top left: moved inside
        [630., 470., 640., 480.],  # bottom right: moved inside
    ])
    squares = expand_boxes(boxes, 640, 480)
    side = math.sqrt(8 * 100)
    assert torch.allclose(
        squares,
        torch.tensor([[85., 90., 125., 130.], [0., 0., 40., 40.],
                      [640 - side, 480 - side, 640., 480.]]))
    # a side beyond the image stays on the centre: x fits, y does not
    square = expand_boxes(torch.tensor([[0., 0., 20., 20.]]), 100, 30)[0]
    side = math.sqrt(8 * 400)
    assert torch.allclose(
        square, torch.tensor([0., 10 - side / 2, side, 10 + side / 2]))


def test_object_crops_are_black_beyond_the_image():
    image = torch.full((3, 30, 50), 200, dtype=torch.uint8)
    box = torch.tensor([[10., 5., 40., 25.]])
    side = math.sqrt(8 * 600)  # 69.3 > 50 and 30: centred on (25, 15)
    crops, masks = object_view(image, box, grid=14)
    assert crops.shape == (1, 3, 224, 224) and masks.shape == (1, 14, 14)
    corners = [round(25 - side / 2), round(15 - side / 2)]
    corners += [round(25 + side / 2), round(15 + side / 2)]
    expected = clip_square(crop_image(image, corners))
    assert torch.equal(crops[0], expected)
    # the image (200) in the middle, black around it
    assert crops[0, :, 112, 112].eq(200).all()
    assert crops[0, :, 112, 2].eq(0).all() and crops[0, :, 2, 112].eq(0).all()
    # a crop inside the image is its pixels, resized
    image = _image(480, 640)
    crops, _ = object_view(image, torch.tensor([[100., 100., 110., 120.]]), 14)
    assert torch.equal(crops[0],
                       resize_image(image[:, 90:130, 85:125], (224, 224)))


def test_object_masks_follow_the_official_nearest_resize():
    gen = torch.Generator().manual_seed(0)
    xy = torch.rand(20, 2, generator=gen) * 300
    wh = torch.rand(20, 2, generator=gen) * 100 + 4
    boxes = torch.cat([xy, xy + wh], 1)
    squares = expand_boxes(boxes, 400, 350)
    masks = object_masks(boxes, squares, 14)
    for box, square, mask in zip(boxes, squares, masks):
        # main: a pixel mask of the square, nearest-resized to the grid
        box = box - square[[0, 1, 0, 1]]
        pixels = torch.arange(float(square[2] - square[0]))
        inside_x = (box[0] <= pixels) & (pixels <= box[2])
        inside_y = (box[1] <= pixels) & (pixels <= box[3])
        outside = ~(inside_y[:, None] & inside_x[None])
        expected = F.interpolate(
            outside[None, None].float(), size=(14, 14), mode='nearest')
        assert torch.equal(mask, expected[0, 0].bool())
    # a box in the middle third of its square: the middle patches only
    box = torch.tensor([[20., 20., 40., 40.]])
    square = torch.tensor([[0., 0., 56., 56.]])
    mask = object_masks(box, square, 14)[0]
    assert (~mask).nonzero()[:, 0].unique().tolist() == list(range(5, 11))


def test_proposals_under_4_px_are_dropped():
    boxes = torch.tensor([[0., 0., 4., 4.], [0., 0., 3.9, 10.],
                          [0., 0., 10., 3.9], [5., 5., 30., 9.]])
    assert valid_proposals(boxes).tolist() == [True, False, False, True]


@pytest.fixture(scope='module')
def oake():
    return OAKE(random_openai_clip(dtype=torch.float32, **ARCH), batch_size=4)


def test_oake_is_frozen_and_normalised(oake):
    assert not any(p.requires_grad for p in oake.parameters())
    oake.train()
    assert not oake.tower.training
    assert oake.grid == 14  # stride 16, padding 15 on 224 px
    image = _image(240, 300)
    embedding = oake.embed_global(image)
    assert not embedding.requires_grad
    assert torch.allclose(embedding.norm(dim=-1), torch.tensor(1.))
    # the full-resolution image: 9 x 7 patches, positional embedding resized
    expected = oake.tower(clip_normalize(image)[None])
    assert torch.allclose(embedding, F.normalize(expected), atol=1e-6)
    blocks = oake.embed_blocks(image)
    assert blocks['embeddings'].shape == (5, 16)  # block 0 + 2 x 2
    assert not blocks['embeddings'].requires_grad
    proposals = torch.tensor([[10., 10., 60., 50., 0.9], [0., 0., 2., 2., .5],
                              [100., 50., 300., 240., .1]])
    objects = oake.embed_objects(image, proposals)
    assert objects['keep'].tolist() == [True, False, True]
    assert torch.equal(objects['boxes'], proposals[[0, 2], :4])
    assert objects['embeddings'].shape == (2, 16)
    assert not objects['embeddings'].requires_grad
    assert torch.allclose(objects['embeddings'].norm(dim=-1), torch.ones(2))
    none = oake.embed_objects(image, torch.zeros(0, 4))
    assert none['embeddings'].shape == (0, 16)
    assert none['boxes'].shape == (0, 4)
    # [OBJ] of a proposal is the tower's token for its crop and mask
    crops, masks = object_view(image, proposals[:1, :4], 14)
    token = oake.tower.forward_with_token(
        clip_normalize(crops), -100. * masks.flatten(1).float(), 16, 15)[1]
    assert torch.allclose(objects['embeddings'][0], F.normalize(token)[0])


def _samples(n):
    return [
        ProposalSample(f'images/{i}.png', f'/data/images/{i}.png', img_id=i)
        for i in range(n)
    ]


def test_proposal_file_layouts(tmp_path):
    boxes = np.array([[1, 2, 30, 40, .5]], np.float32)
    path = str(tmp_path / 'p.pkl')
    # a list in the dataset's order; 4 columns get score 1
    found = load_proposals(path, _samples(2), [boxes, boxes[:, :4]])
    assert found[0].tolist() == [[1, 2, 30, 40, .5]]
    assert found[1].tolist() == [[1, 2, 30, 40, 1]]
    # a dict by record key, mmdet 3 DumpProposals key or img_id
    dump = InstanceData(bboxes=boxes[:, :4], scores=np.array([.7]))
    data = {'images/0.png': boxes, 'images/1.png': dump, 2: [], '3': boxes}
    found = load_proposals(path, _samples(4), data)
    assert found[1][:, 4].tolist() == pytest.approx([.7])
    assert found[2].shape == (0, 5)
    with open(path, 'wb') as f:
        pickle.dump(data, f)
    assert torch.equal(load_proposals(path, _samples(4))[3], found[3])


@pytest.mark.parametrize('data, error, message', [
    ({
        'images/0.png': np.zeros((1, 4))
    }, KeyError, r"no proposals for image '/data/images/1.png' \(tried keys "
     r"\['images/1.png', 1, '1'\]"),
    ([np.zeros((1, 4)), np.zeros((2, 3))], ValueError,
     r"image 1 \('images/1.png'\): proposals of shape \(2, 3\), expected "
     r'\(N, 4\)'),
    ([np.zeros((1, 4))
      ], ValueError, 'lists proposals of 1 images, the dataset has 2'),
    ([np.zeros((1, 4)), np.array([[5, 5, 1, 9]])], ValueError,
     r'proposal 0 is \[5.0, 5.0, 1.0, 9.0, 1.0\], not a finite'),
    ({
        'images/0.png': dict(boxes=1),
        1: np.zeros((0, 4))
    }, KeyError, r"image 'images/0.png': a dict item needs bboxes"),
])
def test_bad_proposal_files_are_named(tmp_path, data, error, message):
    path = str(tmp_path / 'proposals.pkl')
    with open(path, 'wb') as f:
        pickle.dump(data, f)
    with pytest.raises(error, match=f"proposal file '{path}'.*{message}"):
        load_proposals(path, _samples(2))


def test_oake_builds_from_a_tower_config():
    tower = dict(
        type='CLIPImageTower',
        width=64,
        layers=1,
        patch_size=32,
        input_resolution=224,
        output_dim=16)
    oake = OAKE(tower)
    assert isinstance(oake.tower, CLIPImageTower)
    assert oake.tower.resize_pos_embed
