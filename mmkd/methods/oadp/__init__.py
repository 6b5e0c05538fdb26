# Copyright (c) mmkd contributors. All rights reserved.
"""OADP: object-aware distillation pyramid from CLIP for open-vocabulary
detection (Wang et al., CVPR 2023). OAKE, its offline CLIP teacher:
:mod:`.views`, :mod:`.oake`, :mod:`.proposals`, :mod:`.extract`, and
its base-class proposals, :mod:`.proposal_dump`. The DP
student: :mod:`.transforms` (OAKE's records in its pipeline),
:mod:`.classifiers`, :mod:`.losses`, :mod:`.heads`, :mod:`.roi_head`,
:mod:`.detector`."""
from .classifiers import OADPClassifier, OADPViLDClassifier
from .detector import OADPDetector
from .extract import (OAKE_VIEWS, dataset_samples, extract_oake,
                      oake_fingerprint, oake_schema, open_oake_cache,
                      tower_hash)
from .heads import (OADPBlockHead, OADPGlobalHead, OADPObjectHead,
                    overlap_labels)
from .losses import AsymmetricLoss, asymmetric_loss
from .oake import OAKE
from .proposal_dump import (OADP_PROPOSAL_SETTINGS, check_base_class_detector,
                            dump_proposals, proposal_test_cfg, rpn_of)
from .proposals import ProposalSample, load_proposals, save_proposals
from .roi_head import OADPRoIHead, ensemble_lambdas, ensemble_scores
from .transforms import LoadOAKERecords
from .views import (block0_box, block_layout, block_view, expand_boxes,
                    global_view, object_masks, object_view, partition,
                    patch_grid, valid_proposals)

__all__ = [
    'AsymmetricLoss', 'LoadOAKERecords', 'OADP_PROPOSAL_SETTINGS',
    'OADPBlockHead', 'OADPClassifier', 'OADPDetector', 'OADPGlobalHead',
    'OADPObjectHead', 'OADPRoIHead', 'OADPViLDClassifier', 'OAKE',
    'OAKE_VIEWS', 'ProposalSample', 'asymmetric_loss', 'block0_box',
    'block_layout', 'block_view', 'check_base_class_detector',
    'dataset_samples', 'dump_proposals', 'ensemble_lambdas', 'ensemble_scores',
    'expand_boxes', 'extract_oake', 'global_view', 'load_proposals',
    'oake_fingerprint', 'oake_schema', 'object_masks', 'object_view',
    'open_oake_cache', 'overlap_labels', 'partition', 'patch_grid',
    'proposal_test_cfg', 'rpn_of', 'save_proposals', 'tower_hash',
    'valid_proposals'
]
