# Copyright (c) mmkd contributors. All rights reserved.
"""OADP: object-aware distillation pyramid from CLIP for open-vocabulary
detection (Wang et al., CVPR 2023). OAKE, its offline CLIP teacher:
:mod:`.views`, :mod:`.oake`, :mod:`.proposals`, :mod:`.extract`."""
from .extract import (OAKE_VIEWS, dataset_samples, extract_oake,
                      oake_fingerprint, oake_schema, open_oake_cache,
                      tower_hash)
from .oake import OAKE
from .proposals import ProposalSample, load_proposals
from .views import (block0_box, block_layout, block_view, expand_boxes,
                    global_view, object_masks, object_view, partition,
                    patch_grid, valid_proposals)

__all__ = [
    'OAKE', 'OAKE_VIEWS', 'ProposalSample', 'block0_box', 'block_layout',
    'block_view', 'dataset_samples', 'expand_boxes', 'extract_oake',
    'global_view', 'load_proposals', 'oake_fingerprint', 'oake_schema',
    'object_masks', 'object_view', 'open_oake_cache', 'partition',
    'patch_grid', 'tower_hash', 'valid_proposals'
]
