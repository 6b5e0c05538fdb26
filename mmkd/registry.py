# Copyright (c) mmkd contributors. All rights reserved.
"""mmkd's registries: children of MMEngine's root registries.

Each registry lists the packages that register into it (``locations``), so
``import mmkd`` or ``default_scope='mmkd'`` is enough to find every module; no
``register_all_modules`` call is needed. Types from other scopes are borrowed
with a prefix, e.g. ``type='mmseg.EncoderDecoder'``.

The engine's packages are imported at the first look-up; the method packages
(``mmkd.methods.<method>``) and the mmdet3d-based BEV parts
(``mmkd.models.bev``) only when a config names one of their types
(``LAZY_TYPES``), so an engine-only config never imports them or mmdet3d.
"""
from importlib import import_module
from typing import Dict

from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import \
    RUNNER_CONSTRUCTORS as MMENGINE_RUNNER_CONSTRUCTORS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import TASK_UTILS as MMENGINE_TASK_UTILS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import \
    WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry

#: registry name -> type name -> the package registering it, imported on
#: demand; tests/test_registry.py checks it against the packages
LAZY_TYPES: Dict[str, Dict[str, str]] = {
    'model': {
        'BEVDetector': 'mmkd.models.bev',
        'ConvFuser': 'mmkd.models.bev',
        'LSSViewTransform': 'mmkd.models.bev',
        'BoundaryBodyLoss': 'mmkd.methods.bpkd',
        'BoundaryEdgeLoss': 'mmkd.methods.bpkd',
        'LPLDDetector': 'mmkd.methods.lpld',
        'LPLDLoss': 'mmkd.methods.lpld',
        'AsymmetricLoss': 'mmkd.methods.oadp',
        'OADPBlockHead': 'mmkd.methods.oadp',
        'OADPClassifier': 'mmkd.methods.oadp',
        'OADPDetector': 'mmkd.methods.oadp',
        'OADPGlobalHead': 'mmkd.methods.oadp',
        'OADPObjectHead': 'mmkd.methods.oadp',
        'OADPRoIHead': 'mmkd.methods.oadp',
        'OADPViLDClassifier': 'mmkd.methods.oadp',
        'CrossStageFusion': 'mmkd.methods.transkd',
        'EmbeddingAssistant': 'mmkd.methods.transkd',
        'GLMixer': 'mmkd.methods.transkd',
        'HierarchicalContextLoss': 'mmkd.methods.transkd',
        'PatchEmbedAlign': 'mmkd.methods.transkd',
        'WeightedEmbeddingLoss': 'mmkd.methods.transkd',
        'BEVKeypointFeatureLoss': 'mmkd.methods.unidistill',
        'BEVKeypointRelationLoss': 'mmkd.methods.unidistill',
        'BEVResponseLoss': 'mmkd.methods.unidistill',
        'XRayDistillModel': 'mmkd.methods.xray',
    },
    'transform': {
        'LPLDStrongAugment': 'mmkd.methods.lpld',
        'LoadOAKERecords': 'mmkd.methods.oadp',
        'LoadTeacherPoints': 'mmkd.methods.xray',
    },
    'hook': {
        'XRayInfosCheckHook': 'mmkd.methods.xray',
    },
}


class LazyRegistry(Registry):
    """A registry that imports the package of a type named in
    :data:`LAZY_TYPES` the first time it is looked up."""

    def get(self, key: str):
        scope, real_key = self.split_scope_key(key)
        package = LAZY_TYPES.get(self.name, {}).get(real_key)
        if package is not None and scope in (None, self._scope) and \
                real_key not in self._module_dict:
            import_module(package)
        return super().get(key)


_MODEL_LOCATIONS = ['mmkd.models']

RUNNERS = Registry(
    'runner', parent=MMENGINE_RUNNERS, locations=['mmkd.engine'])
RUNNER_CONSTRUCTORS = Registry(
    'runner constructor',
    parent=MMENGINE_RUNNER_CONSTRUCTORS,
    locations=['mmkd.engine'])
LOOPS = Registry('loop', parent=MMENGINE_LOOPS, locations=['mmkd.engine'])
HOOKS = LazyRegistry(
    'hook', parent=MMENGINE_HOOKS, locations=['mmkd.engine'])

DATASETS = LazyRegistry(
    'dataset', parent=MMENGINE_DATASETS, locations=['mmkd.datasets'])
DATA_SAMPLERS = Registry(
    'data sampler', parent=MMENGINE_DATA_SAMPLERS, locations=['mmkd.datasets'])
TRANSFORMS = LazyRegistry(
    'transform', parent=MMENGINE_TRANSFORMS, locations=['mmkd.datasets'])

MODELS = LazyRegistry(
    'model', parent=MMENGINE_MODELS, locations=_MODEL_LOCATIONS)
MODEL_WRAPPERS = Registry(
    'model_wrapper',
    parent=MMENGINE_MODEL_WRAPPERS,
    locations=['mmkd.engine'])
WEIGHT_INITIALIZERS = Registry(
    'weight initializer',
    parent=MMENGINE_WEIGHT_INITIALIZERS,
    locations=_MODEL_LOCATIONS)

OPTIMIZERS = Registry(
    'optimizer', parent=MMENGINE_OPTIMIZERS, locations=['mmkd.engine'])
OPTIM_WRAPPERS = Registry(
    'optim_wrapper', parent=MMENGINE_OPTIM_WRAPPERS, locations=['mmkd.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
    locations=['mmkd.engine'])
PARAM_SCHEDULERS = Registry(
    'parameter scheduler',
    parent=MMENGINE_PARAM_SCHEDULERS,
    locations=['mmkd.engine'])

METRICS = LazyRegistry(
    'metric', parent=MMENGINE_METRICS, locations=['mmkd.evaluation'])
EVALUATOR = Registry(
    'evaluator', parent=MMENGINE_EVALUATOR, locations=['mmkd.evaluation'])

TASK_UTILS = LazyRegistry(
    'task util', parent=MMENGINE_TASK_UTILS, locations=['mmkd.models'])
LOG_PROCESSORS = Registry(
    'log_processor',
    parent=MMENGINE_LOG_PROCESSORS,
    locations=['mmkd.engine'])
