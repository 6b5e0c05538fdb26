# Copyright (c) mmkd contributors. All rights reserved.
"""BPKD's fast boundary masks equal the one-hot morphology they replace.

``_reference_masks`` is the former implementation of
:func:`mmkd.methods.bpkd.edge_mask.boundary_masks` (a full-resolution
one-hot map per class, dilated and eroded with box convolutions), kept
here verbatim as the definition the fast path must reproduce exactly.
"""
import itertools

import pytest
import torch
import torch.nn.functional as F

from mmkd.methods.bpkd import boundary_masks, label_edges
from mmkd.methods.bpkd.edge_mask import EDGE_ORDERS, IGNORE_MODES


def _box_count(x, kernel_size):
    weight = x.new_ones(x.shape[1], 1, kernel_size, kernel_size)
    return F.conv2d(x, weight, padding=kernel_size // 2, groups=x.shape[1])


def _binary_dilate(x, kernel_size):
    return (_box_count(x, kernel_size) > 0.5).to(x.dtype)


def _binary_erode(x, kernel_size):
    in_image = _box_count(torch.ones_like(x[:1, :1]), kernel_size)
    return (_box_count(x, kernel_size) > in_image - 0.5).to(x.dtype)


def _reference_label_edges(labels, ignore_index=255):
    valid = labels != ignore_index
    low = labels.masked_fill(~valid, -1).float()[:, None]
    high = labels.masked_fill(~valid, 1 << 20).float()[:, None]
    ref = labels[:, None].float()
    differs = (F.max_pool2d(low, 3, 1, 1) != ref) | (
        -F.max_pool2d(-high, 3, 1, 1) != ref)
    return differs[:, 0] & valid


def _reference_masks(labels, num_classes, out_size, kernel_size=5,
                     ignore_index=255, order='onehot_then_detect',
                     ignore_mode='outside'):
    valid = labels != ignore_index
    height, width = labels.shape[-2:]
    h, w = out_size
    pool = (height // h, width // w)
    classes = torch.arange(num_classes)
    inside = ((labels[:, None] == classes[:, None, None])
              & valid[:, None]).float()
    if ignore_mode == 'outside':
        full = labels.masked_fill(~valid, num_classes)
        if order == 'onehot_then_detect':
            band = _binary_dilate(inside, kernel_size) - _binary_erode(
                inside, kernel_size)
        else:
            on_edge = inside * _reference_label_edges(full, -1)[:, None]
            band = _binary_dilate(on_edge, kernel_size) - _binary_erode(
                on_edge, kernel_size)
        pooled = F.avg_pool2d(band.clamp(0, 1), pool)
        fraction = F.avg_pool2d(valid[:, None].float(), pool)
        return pooled * fraction, (1 - pooled) * fraction
    if order == 'onehot_then_detect':
        unknown = (~valid)[:, None].float()
        band = _binary_dilate(inside, kernel_size) - _binary_erode(
            torch.maximum(inside, unknown), kernel_size)
    else:
        on_edge = inside * _reference_label_edges(labels,
                                                  ignore_index)[:, None]
        band = _binary_dilate(on_edge, kernel_size) - _binary_erode(
            on_edge, kernel_size)
    band = band.clamp(0, 1) * valid[:, None]
    pooled = F.avg_pool2d(band, pool)
    return pooled, 1 - pooled


def _regions(num_classes, n=2, size=(32, 48), cell=(4, 6), seed=0):
    """Blocky regions of random classes (nearest-upsampled noise)."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randint(0, num_classes, (n, 1, *cell), generator=g)
    return F.interpolate(coarse.float(), size, mode='nearest')[:, 0].long()


def _label_maps(num_classes):
    """Random and hand-made (N, 32, 48) label maps with ignored pixels."""
    g = torch.Generator().manual_seed(num_classes)
    noise = torch.randint(0, num_classes, (2, 32, 48), generator=g)
    blobs = _regions(num_classes, seed=1)
    fine = _regions(num_classes, cell=(16, 24), seed=2)
    # an ignore blob inside a region and one touching the image border
    with_ignore = blobs.clone()
    with_ignore[:, 10:17, 20:31] = 255
    with_ignore[0, :5, :7] = 255
    # label padding (seg_pad_val=255) along the bottom and right
    padded = fine.clone()
    padded[:, 27:] = 255
    padded[:, :, 41:] = 255
    # scattered ignored pixels, some between two classes
    sprinkled = noise.masked_fill(
        torch.rand(noise.shape, generator=g) < 0.2, 255)
    uniform = torch.full((2, 32, 48), num_classes - 1)
    all_ignored = torch.full((2, 32, 48), 255)
    line = torch.zeros(2, 32, 48, dtype=torch.long)
    line[0, 15, :] = num_classes - 1  # a one-pixel stroke
    line[1, :, 0] = num_classes - 1  # along the border
    line[1, 5, 5] = 255
    return dict(
        noise=noise,
        blobs=blobs,
        fine=fine,
        with_ignore=with_ignore,
        padded=padded,
        sprinkled=sprinkled,
        uniform=uniform,
        all_ignored=all_ignored,
        line=line)


def _assert_same(labels, num_classes, out_size, **kwargs):
    edge, body = boundary_masks(labels, num_classes, out_size, **kwargs)
    ref_edge, ref_body = _reference_masks(labels, num_classes, out_size,
                                          **kwargs)
    assert edge.shape == ref_edge.shape and edge.dtype == ref_edge.dtype
    assert torch.equal(edge, ref_edge), kwargs
    assert torch.equal(body, ref_body), kwargs


@pytest.mark.parametrize('order,ignore_mode',
                         list(itertools.product(EDGE_ORDERS, IGNORE_MODES)))
@pytest.mark.parametrize('kernel_size', [1, 3, 5, 7])
@pytest.mark.parametrize('pool', [1, 2, 4, 8])
def test_fast_masks_equal_the_reference(order, ignore_mode, kernel_size,
                                        pool):
    for num_classes in (2, 11, 19):
        # all maps in one batch: samples must not leak into each other
        labels = torch.cat(list(_label_maps(num_classes).values()))
        _assert_same(
            labels,
            num_classes, (32 // pool, 48 // pool),
            kernel_size=kernel_size,
            order=order,
            ignore_mode=ignore_mode)


@pytest.mark.parametrize('order,ignore_mode',
                         list(itertools.product(EDGE_ORDERS, IGNORE_MODES)))
def test_fast_masks_equal_the_reference_on_odd_shapes(order, ignore_mode):
    # non-square maps, unequal pool ratios, maps smaller than the kernel
    cases = [((1, 8, 40), (2, 5)), ((3, 24, 8), (3, 1)), ((1, 2, 3), (1, 3)),
             ((1, 1, 1), (1, 1))]
    for (shape, out_size), k in itertools.product(cases, (1, 3, 5, 7)):
        g = torch.Generator().manual_seed(k)
        labels = torch.randint(0, 3, shape, generator=g)
        labels[torch.rand(shape, generator=g) < 0.1] = 255
        _assert_same(
            labels,
            3,
            out_size,
            kernel_size=k,
            order=order,
            ignore_mode=ignore_mode)


@pytest.mark.parametrize('order,ignore_mode',
                         list(itertools.product(EDGE_ORDERS, IGNORE_MODES)))
def test_fast_masks_with_many_classes(order, ignore_mode):
    # more than 254 classes do not fit the uint8 codes
    for num_classes in (254, 300):
        labels = _regions(num_classes, size=(16, 16), cell=(8, 8))
        labels[0, 3:6, 3:6] = 255
        labels[1, 0] = num_classes - 1
        _assert_same(
            labels,
            num_classes, (4, 4),
            kernel_size=3,
            ignore_index=255 if num_classes < 255 else 1000,
            order=order,
            ignore_mode=ignore_mode)


def test_fast_masks_with_another_ignore_index():
    labels = _label_maps(5)['with_ignore'].masked_fill(
        _label_maps(5)['with_ignore'] == 255, -1)
    for order, mode in itertools.product(EDGE_ORDERS, IGNORE_MODES):
        _assert_same(
            labels, 5, (8, 12), ignore_index=-1, order=order,
            ignore_mode=mode)


def test_label_edges_equal_the_reference():
    for name, labels in _label_maps(11).items():
        assert torch.equal(
            label_edges(labels), _reference_label_edges(labels)), name
        assert torch.equal(
            label_edges(labels, -1), _reference_label_edges(labels, -1)), name
