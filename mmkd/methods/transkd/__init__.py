# Copyright (c) mmkd contributors. All rights reserved.
"""TransKD: Transformer Knowledge Distillation for Efficient Semantic
Segmentation (Liu et al., 2022): cross selective fusion of the student's
stages with a hierarchical context loss, and patch-embedding distillation
(PEA, GL-Mixer, Embedding Assistants)."""
from .csf import CrossStageFusion
from .embeddings import (EmbeddingAssistant, GLMixer, OverlapPatchEmbed,
                         PatchEmbedAlign)
from .losses import (HierarchicalContextLoss, WeightedEmbeddingLoss,
                     hierarchical_context_loss)

__all__ = [
    'CrossStageFusion', 'EmbeddingAssistant', 'GLMixer',
    'HierarchicalContextLoss', 'OverlapPatchEmbed', 'PatchEmbedAlign',
    'WeightedEmbeddingLoss', 'hierarchical_context_loss'
]
