# Copyright (c) mmkd contributors. All rights reserved.
import numpy as np
from mmcv.transforms import BaseTransform

from mmkd.registry import TRANSFORMS


@TRANSFORMS.register_module()
class CheckSegLabels(BaseTransform):
    """Refuse a seg map with labels outside ``[0, num_classes)``.

    Without it a label ``>= num_classes`` reaches the loss, which fails
    iterations later with an ``IndexError`` (CPU) or a device assert (GPU)
    that names no file, or, with some losses, trains on it silently. Place it
    right after ``LoadAnnotations``.

    Required Keys:

    - gt_seg_map
    - seg_map_path (named in the error)

    Args:
        num_classes (int): Number of classes; labels ``0 .. num_classes - 1``
            are valid.
        ignore_index (int): The label that marks ignored pixels, also
            valid. Defaults to 255.
    """

    def __init__(self, num_classes: int, ignore_index: int = 255) -> None:
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError('CheckSegLabels: num_classes must be a positive '
                             f'int, got {num_classes!r}')
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def transform(self, results: dict) -> dict:
        seg = results['gt_seg_map']
        if seg.dtype == np.uint8:
            # a histogram is several times faster than a sort
            values = np.flatnonzero(np.bincount(seg.ravel(), minlength=256))
        else:
            values = np.unique(seg)
        bad = values[((values < 0) | (values >= self.num_classes))
                     & (values != self.ignore_index)]
        if bad.size:
            raise ValueError(
                f'{results.get("seg_map_path")!r} has label values '
                f'{bad.tolist()[:20]} outside 0-{self.num_classes - 1} '
                f'(num_classes={self.num_classes}; {self.ignore_index} is '
                'ignore_index). Fix the file, or num_classes / the '
                "dataset's classes.")
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(num_classes={self.num_classes}, '
                f'ignore_index={self.ignore_index})')
