# Copyright (c) mmkd contributors. All rights reserved.
import numpy as np
import pytest
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

from mmkd.methods.lpld import LPLDStrongAugment

OFF = dict(jitter_prob=0., gray_prob=0., blur_prob=0., erasing=())


def image(seed=0, shape=(60, 80, 3)):
    return np.random.default_rng(seed).integers(0, 256, shape, np.uint8)


def test_all_off_is_the_identity():
    img = image()
    out = LPLDStrongAugment(**OFF).transform(dict(img=img.copy()))['img']
    np.testing.assert_array_equal(out, img)


def test_grayscale_and_blur():
    img = image()
    gray = LPLDStrongAugment(**dict(OFF, gray_prob=1.)).transform(
        dict(img=img.copy()))['img']
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] ==
                                                     gray[..., 2]).all()
    # a sigma of at least 1 px, whatever the global random state (at
    # sigma 0.1 the kernel is a single pixel)
    blurred = LPLDStrongAugment(**dict(OFF, blur_prob=1.,
                                       blur_sigma=(1.0, 2.0))).transform(
        dict(img=img.copy()))['img']
    # blurring white noise lowers its variance
    assert blurred.astype(float).var() < img.astype(float).var()


def test_erasing_fills_one_rectangle_of_the_asked_area():
    np.random.seed(0)
    img = np.zeros((100, 100, 3), np.uint8)
    aug = LPLDStrongAugment(**dict(OFF, erasing=[(1.0, (0.1, 0.1),
                                                  (1.0, 1.0))]))
    out = aug.transform(dict(img=img.copy()))['img']
    changed = (out != 0).any(axis=2)
    ys, xs = np.nonzero(changed)
    # a 10% square: about 32x32 pixels, filled with noise
    assert ys.max() - ys.min() + 1 == xs.max() - xs.min() + 1 == 32
    assert changed.sum() > 0.95 * 32 * 32


def test_jitter_changes_colours_not_geometry():
    np.random.seed(1)
    img = image()
    out = LPLDStrongAugment(**dict(OFF, jitter_prob=1.)).transform(
        dict(img=img.copy()))['img']
    assert out.shape == img.shape and out.dtype == np.uint8
    assert not np.array_equal(out, img)


def test_bad_arguments_and_images():
    with pytest.raises(ValueError, match='hue in \\[0, 0.5\\]'):
        LPLDStrongAugment(jitter=(0.4, 0.4, 0.4, 0.7))
    with pytest.raises(ValueError, match='gray_prob must be in'):
        LPLDStrongAugment(gray_prob=2)
    with pytest.raises(ValueError, match='uint8 BGR image'):
        LPLDStrongAugment().transform(dict(img=np.zeros((4, 4), np.float32)))


def test_weak_and_strong_views_share_geometry():
    """mmdet's MultiBranch after one shared Resize: the teacher's weak and
    the student's strong view have the same size and boxes."""
    init_default_scope('mmdet')
    pack = dict(type='PackDetInputs',
                meta_keys=('img_shape', 'ori_shape', 'scale_factor'))
    pipeline = Compose([
        dict(type='Resize', scale=(160, 120), keep_ratio=True),
        dict(type='MultiBranch',
             branch_field=['unsup_teacher', 'unsup_student'],
             unsup_teacher=[pack],
             unsup_student=[dict(type='mmkd.LPLDStrongAugment',
                                 jitter_prob=1., blur_prob=1.), pack]),
    ])
    boxes = np.array([[10., 10., 40., 30.]], np.float32)
    np.random.seed(0)
    out = pipeline(dict(img=image(), img_shape=(60, 80), ori_shape=(60, 80),
                        gt_bboxes=HorizontalBoxes(boxes),
                        gt_bboxes_labels=np.array([1]),
                        gt_ignore_flags=np.array([False])))
    weak, strong = (out['inputs'][k] for k in ('unsup_teacher',
                                               'unsup_student'))
    assert weak.shape == strong.shape == (3, 120, 160)
    assert not (weak == strong).all()
    w_boxes, s_boxes = (out['data_samples'][k].gt_instances.bboxes.tensor
                        for k in ('unsup_teacher', 'unsup_student'))
    assert (w_boxes == s_boxes).all()
    assert w_boxes.tolist() == [[20., 20., 80., 60.]]


def test_hue_shift_turns_both_ways():
    from mmkd.methods.lpld.transforms import _shift_hue
    red = np.zeros((2, 2, 3), np.uint8)
    red[..., 2] = 255  # BGR red, hue 0
    np.testing.assert_array_equal(_shift_hue(red, 0.0), red)
    # a third of a turn is green, minus a third is blue
    assert _shift_hue(red, 1 / 3)[0, 0].argmax() == 1
    assert _shift_hue(red, -1 / 3)[0, 0].argmax() == 0
