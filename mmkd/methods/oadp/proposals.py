# Copyright (c) mmkd contributors. All rights reserved.
"""Proposal files for OAKE's object view.

A proposal file is a pickle of per-image proposals, in one of two
layouts:

- a **list** (or tuple) with one item per image of the dataset, in the
  dataset's order (OLN's and mmdet 2's ``--out`` of an RPN: one array per
  image); its length must be the dataset's;
- a **dict** from an image's key to its item; an image is looked up by its
  path relative to ``data_root`` (the record cache's key), then by mmdet
  3's ``DumpProposals`` key (``<parent folder>/<file name>``), then by its
  ``img_id`` (as given, then as a str).

An item is an array or tensor ``(N, 4)`` of ``(x1, y1, x2, y2)`` boxes in
the original image's pixels, or ``(N, 5)`` with an objectness score last,
or a dict (or ``InstanceData``) with ``bboxes`` ``(N, 4)`` and optionally
``scores`` ``(N,)``. Proposals without scores get score 1. Every image is
checked when the file is read, before any is embedded: a missing image, a
mis-shaped array, or a box that is not finite with ``x2 >= x1`` and
``y2 >= y1`` is an error naming the file and the image.

:func:`save_proposals` writes the dict layout (float32 ``(N, 5)`` per
image key); ``tools/misc/oadp_proposals.py`` dumps a detector's RPN
proposals with it (:mod:`.proposal_dump`).
"""
import os
import os.path as osp
import pickle
from typing import List, Mapping, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = ['load_proposals', 'ProposalSample', 'save_proposals']


class ProposalSample:
    """What identifies an image in a proposal file.

    Args:
        key (str): Its record key (path relative to ``data_root``).
        img_path (str): Its path.
        img_id (int | str, optional): Its dataset id.
    """

    def __init__(self, key: str, img_path: str, img_id=None) -> None:
        self.key = key
        self.img_path = img_path
        self.img_id = img_id

    def candidates(self) -> list:
        """Dict keys to try, in order."""
        dump_key = osp.join(
            osp.basename(osp.dirname(self.img_path)),
            osp.basename(self.img_path))
        keys = [self.key, dump_key]
        if self.img_id is not None:
            keys += [self.img_id, str(self.img_id)]
        return list(dict.fromkeys(keys))


def _tensor(value) -> Tensor:
    if isinstance(value, Tensor):
        return value.detach().cpu().float()
    return torch.as_tensor(np.asarray(value, dtype=np.float32))


def _as_boxes(item, where: str) -> Tensor:
    """An item as float32 (N, 5): boxes and scores."""
    scores = None
    if hasattr(item, 'bboxes') and not isinstance(item, Mapping):
        item = dict(bboxes=item.bboxes, scores=getattr(item, 'scores', None))
    if isinstance(item, Mapping):
        if 'bboxes' not in item:
            raise KeyError(f'{where}: a dict item needs bboxes (N, 4), got '
                           f'keys {sorted(item)}')
        scores = item.get('scores')
        item = item['bboxes']
    if not isinstance(item, (np.ndarray, Tensor, list, tuple)):
        raise TypeError(f'{where}: expected an array (N, 4) or (N, 5), got '
                        f'{type(item).__name__}')
    boxes = _tensor(item)
    if boxes.numel() == 0 and boxes.dim() < 2:  # [] or np.zeros(0)
        boxes = boxes.reshape(0, 4)
    if boxes.dim() != 2 or boxes.shape[1] not in (4, 5) or (
            scores is not None and boxes.shape[1] != 4):
        raise ValueError(
            f'{where}: proposals of shape {tuple(boxes.shape)}, expected '
            '(N, 4) boxes x1, y1, x2, y2 or (N, 5) with a score last' +
            (' (bboxes (N, 4) beside scores)' if scores is not None else ''))
    if scores is not None:
        scores = _tensor(scores).reshape(-1)
        if scores.numel() != boxes.shape[0]:
            raise ValueError(f'{where}: {boxes.shape[0]} bboxes but '
                             f'{scores.numel()} scores')
        boxes = torch.cat([boxes, scores[:, None]], 1)
    elif boxes.shape[1] == 4:
        boxes = torch.cat([boxes, boxes.new_ones(len(boxes), 1)], 1)
    bad = ~boxes.isfinite().all(1) | (boxes[:, 2] < boxes[:, 0]) | (
        boxes[:, 3] < boxes[:, 1])
    if bad.any():
        row = int(bad.nonzero()[0])
        raise ValueError(
            f'{where}: proposal {row} is {boxes[row].tolist()}, not a finite '
            f'(x1, y1, x2, y2) box with x2 >= x1 and y2 >= y1')
    return boxes


def load_proposals(path: str,
                   samples: Sequence[ProposalSample],
                   data: Optional[object] = None) -> List[Tensor]:
    """Read a proposal file (the module's format) for the dataset's images.

    Args:
        path (str): The pickle file.
        samples (list[ProposalSample]): The dataset's images, in order.
        data (object, optional): The unpickled file, if already read.

    Returns:
        list[Tensor]: Per image, float32 (N, 5): boxes and score.
    """
    if data is None:
        if not osp.isfile(path):
            raise FileNotFoundError(f'proposal file {path!r} does not exist')
        with open(path, 'rb') as f:
            data = pickle.load(f)
    what = f'proposal file {path!r}'
    if isinstance(data, (list, tuple)):
        if len(data) != len(samples):
            raise ValueError(
                f'{what} lists proposals of {len(data)} images, the dataset '
                f'has {len(samples)}; a list is in the dataset\'s order (a '
                'dict keyed by image is looked up instead)')
        return [
            _as_boxes(item, f'{what}, image {i} ({sample.key!r})')
            for i, (item, sample) in enumerate(zip(data, samples))
        ]
    if not isinstance(data, Mapping):
        raise TypeError(f'{what} holds a {type(data).__name__}, not a list '
                        'of per-image proposals or a dict keyed by image')
    out = []
    for sample in samples:
        keys = sample.candidates()
        found = next((k for k in keys if k in data), None)
        if found is None:
            example = next(iter(data), None)
            raise KeyError(
                f'{what} has no proposals for image {sample.img_path!r} '
                f'(tried keys {keys}; the file has {len(data)} keys like '
                f'{example!r})')
        out.append(_as_boxes(data[found], f'{what}, image {found!r}'))
    return out


def save_proposals(path: str, proposals: Mapping) -> None:
    """Write a proposal file: a dict from image key to float32 ``(N, 5)``.

    Written to a temporary file first, so that an interrupted dump does
    not leave a file that reads as complete.

    Args:
        path (str): The pickle file; its folder is created.
        proposals (Mapping): Image key to ``(N, 4)`` or ``(N, 5)`` boxes
            (checked as :func:`load_proposals` checks them).
    """
    out = {}
    for key, item in proposals.items():
        out[key] = _as_boxes(item, f'proposals of image {key!r}').numpy()
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        pickle.dump(out, f)
    os.replace(tmp, path)
