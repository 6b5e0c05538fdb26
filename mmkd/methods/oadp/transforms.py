# Copyright (c) mmkd contributors. All rights reserved.
"""OAKE's records of a training image in the DP student's pipeline: its
three caches (:mod:`.extract`) loaded by one transform."""
import os.path as osp
from typing import Optional

from mmcv.transforms import BaseTransform

from mmkd.datasets.transforms import LoadCachedRecords
from mmkd.registry import TRANSFORMS
from .extract import OAKE_VIEWS

# the objects' fields the DP heads read (the proposal scores are not)
OBJECT_FIELDS = ('boxes', 'embeddings')


@TRANSFORMS.register_module()
class LoadOAKERecords(BaseTransform):
    """Load a sample's records from OAKE's three caches, as one
    ``mmkd.LoadCachedRecords`` per view with the prefix
    ``<prefix><view>_``.

    The caches are ``<oake_root>/global``, ``<oake_root>/blocks`` and
    ``<oake_root>/objects`` (:func:`~.extract.extract_oake`), keyed by the
    image path relative to ``data_root``; the objects cache is refused
    when the pipeline is built unless ``proposal_file`` has the bytes of
    the proposal file it was computed from. Keys added (``prefix``
    ``'oake_'``; boxes in the original image's pixels, moved with the
    sample's resize and flip by ``mmkd.PackCachedRecords``, which packs
    each view as ``data_sample.<prefix><view>_records``):

    - ``oake_global_embeddings``: (1, D);
    - ``oake_blocks_boxes``, ``oake_blocks_embeddings``: (K, 4), (K, D);
    - ``oake_objects_boxes``, ``oake_objects_embeddings``: (M, 4),
      (M, D);
    - the three record groups in ``results['cached_record_groups']``.

    Args:
        oake_root (str): The caches' folder (``--out`` of
            ``tools/misc/oadp_extract.py``).
        proposal_file (str): The proposal file the objects cache was
            computed from (where it is now).
        data_root (str, optional): Image paths are keyed relative to it,
            as the caches were written.
        prefix (str): Prefix of the record groups, the detector's
            ``record_prefix``. Defaults to ``'oake_'``.
    """

    def __init__(self,
                 oake_root: str,
                 proposal_file: str,
                 data_root: Optional[str] = None,
                 prefix: str = 'oake_') -> None:
        self.oake_root = oake_root
        self.proposal_file = proposal_file
        self.loaders = []
        for view in OAKE_VIEWS:
            cache = osp.join(oake_root, view)
            if view == 'objects':
                # refused if built from another proposal file
                cache = dict(
                    root=cache, extra_inputs=dict(proposals=proposal_file))
            self.loaders.append(
                LoadCachedRecords(
                    cache,
                    fields=OBJECT_FIELDS if view == 'objects' else None,
                    data_root=data_root,
                    prefix=f'{prefix}{view}_'))

    def transform(self, results: dict) -> dict:
        for load in self.loaders:
            results = load(results)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(oake_root={self.oake_root!r}, '
                f'proposal_file={self.proposal_file!r}, '
                f'loaders={self.loaders})')
