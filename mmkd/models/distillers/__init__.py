# Copyright (c) mmkd contributors. All rights reserved.
from .connectors import ConvConnector, LinearConnector
from .data_preprocessor import DistillDataPreprocessor
from .distill_model import DistillModel
from .distiller import Distiller
from .taps import FeatureTaps, TapsComplete
from .teacher import build_model, load_teacher_checkpoint, resolve_model_cfg

__all__ = [
    'ConvConnector', 'LinearConnector', 'DistillDataPreprocessor',
    'DistillModel', 'Distiller', 'FeatureTaps', 'TapsComplete', 'build_model',
    'load_teacher_checkpoint', 'resolve_model_cfg'
]
