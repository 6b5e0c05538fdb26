# Copyright (c) mmkd contributors. All rights reserved.
"""OADP's classifiers: a normalised linear embedding scored against fixed
class text embeddings ``E`` (a text-embedding file,
:func:`mmkd.models.clip.load_text_embeddings`).

- :class:`OADPViLDClassifier` (the bbox head, ViLD's):
  ``emb . E^T / s`` with ``s = 0.007`` in training and ``0.01`` at test.
- :class:`OADPClassifier` (the object, block and global heads):
  ``emb . E^T * scale - bias``, ``scale`` and ``bias`` from the file
  (OADP's ``ml_coco.pth`` has both); when the file has none and the config
  gives none: ``scale = 100`` (CLIP's logit scale, 1 / 0.01) and
  ``bias = 0``.

``emb`` is the L2-normalised output of a linear layer of the head's
features. Built with ``out_features = C + 1`` (mmdet's box heads) the
classifier has a learnable background embedding (Xavier-uniform, L2-
normalised when scored) as its last column; with ``C``, none. In training
the novel classes' columns are ``-inf`` (no gradient reaches them, and
softmax / sigmoid give them 0). ``E`` is a buffer (not trained, not in the
state dict: it comes from the file).
"""
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmkd.datasets.open_vocabulary.split import read_ov_split_summary
from mmkd.models.clip import load_text_embeddings
from mmkd.registry import MODELS

#: the logit scale and bias of OADPClassifier when neither the embedding
#: file nor the config gives them
DEFAULT_SCALE = 100.0
DEFAULT_BIAS = 0.0


class _TextClassifier(nn.Module):
    """Shared body of the text-embedding classifiers.

    Args:
        in_features (int): Width of the head's features.
        out_features (int, optional): ``len(classes)`` (no background, the
            default) or ``len(classes) + 1`` (a learnable background
            embedding last).
        embeddings (str): The text-embedding file; its names must be
            ``classes``, in order.
        classes (Sequence[str], optional): The dataset's classes.
        base_classes (Sequence[str], optional): The classes trained with
            labels; the others are novel (``-inf`` in training). None: all
            are base.
        ov_split (str, optional): Instead of ``classes`` and
            ``base_classes``: the summary of an open-vocabulary split
            (``ov_split.json``, ``tools/dataset_converters/ov_split.py``)
            naming them (OV-LVIS: 1203 classes, the rare ones novel).
    """

    def __init__(self,
                 in_features: int,
                 out_features: Optional[int] = None,
                 embeddings: str = None,
                 classes: Optional[Sequence[str]] = None,
                 base_classes: Optional[Sequence[str]] = None,
                 ov_split: Optional[str] = None) -> None:
        super().__init__()
        name = type(self).__name__
        if embeddings is None:
            raise TypeError(f'{name} needs embeddings (a text-embedding '
                            'file)')
        if ov_split is not None:
            if classes is not None or base_classes is not None:
                raise ValueError(
                    f'{name}: give classes / base_classes or ov_split '
                    f'({ov_split!r}), not both')
            split = read_ov_split_summary(ov_split)
            classes, base_classes = split['classes'], split['base_classes']
        if classes is None:
            raise TypeError(f'{name} needs classes (or an ov_split file '
                            'naming them)')
        classes = list(classes)
        if out_features is None:
            out_features = len(classes)
        text = load_text_embeddings(embeddings)
        if text.names != classes:
            raise ValueError(
                f'{type(self).__name__}: the class names of the text '
                f'embeddings {embeddings!r}, {text.names}, are not the '
                f'dataset\'s classes, in order: {classes}')
        base = classes if base_classes is None else list(base_classes)
        unknown = [c for c in base if c not in classes]
        if unknown:
            raise ValueError(f'{type(self).__name__}: base classes {unknown} '
                             f'are not among the classes {classes}')
        num_classes = len(classes)
        if out_features not in (num_classes, num_classes + 1):
            raise ValueError(
                f'{type(self).__name__}: out_features is {out_features}, '
                f'expected {num_classes} classes of {embeddings!r} (+1 for '
                'a background embedding); set the head\'s num_classes to '
                f'{num_classes}')
        self.embeddings_file = embeddings
        self.classes = classes
        # the file's logit scale and bias (OADPClassifier's defaults)
        self.file_scale, self.file_bias = text.scale, text.bias
        dim = text.embeddings.shape[1]
        self.linear = nn.Linear(in_features, dim)
        self.register_buffer(
            'class_embeddings', text.embeddings.float(), persistent=False)
        if out_features == num_classes + 1:
            self.bg_embedding = nn.Parameter(torch.empty(1, dim))
            nn.init.xavier_uniform_(self.bg_embedding)
        else:
            self.bg_embedding = None
        novel = torch.tensor([c not in base for c in classes] + [False] *
                             (out_features - num_classes))
        self.register_buffer('novel', novel, persistent=False)

    @property
    def embed_dim(self) -> int:
        """Width of the embeddings (the text embeddings')."""
        return self.class_embeddings.shape[1]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def embed(self, x: Tensor) -> Tensor:
        """The L2-normalised embeddings ``(N, D)`` of features ``(N, *)``."""
        return F.normalize(self.linear(x.flatten(1)), dim=-1)

    def class_weight(self) -> Tensor:
        """``E`` with the normalised background embedding last, if any."""
        if self.bg_embedding is None:
            return self.class_embeddings
        return torch.cat(
            [self.class_embeddings,
             F.normalize(self.bg_embedding, dim=-1)])

    def scale_logits(self, cosine: Tensor) -> Tensor:
        raise NotImplementedError

    def classify(self, embeddings: Tensor) -> Tensor:
        """Logits ``(N, out_features)`` of normalised embeddings."""
        logits = self.scale_logits(embeddings @ self.class_weight().T)
        if self.training and bool(self.novel.any()):
            # out of place: the novel columns get no gradient
            logits = logits.masked_fill(self.novel, float('-inf'))
        return logits

    def forward(self, x: Tensor) -> Tensor:
        return self.classify(self.embed(x))


@MODELS.register_module()
class OADPViLDClassifier(_TextClassifier):
    """ViLD's text classifier, OADP's bbox head: ``emb . E^T / s``.

    Args:
        train_temperature (float): ``s`` in training. Defaults to 0.007.
        test_temperature (float): ``s`` at test. Defaults to 0.01.
        **kwargs: See :class:`_TextClassifier` (``in_features``,
            ``out_features``, ``embeddings``, ``classes``,
            ``base_classes``).
    """

    def __init__(self,
                 *args,
                 train_temperature: float = 0.007,
                 test_temperature: float = 0.01,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name, value in (('train_temperature', train_temperature),
                            ('test_temperature', test_temperature)):
            if not value > 0:
                raise ValueError(f'OADPViLDClassifier: {name} must be > 0, '
                                 f'got {value!r}')
        self.train_temperature = train_temperature
        self.test_temperature = test_temperature

    def scale_logits(self, cosine: Tensor) -> Tensor:
        s = self.train_temperature if self.training else \
            self.test_temperature
        return cosine / s

    def extra_repr(self) -> str:
        return (f'classes={len(self.classes)}, '
                f'embeddings={self.embeddings_file!r}, '
                f'temperature=({self.train_temperature}, '
                f'{self.test_temperature})')


@MODELS.register_module()
class OADPClassifier(_TextClassifier):
    """OADP's classifier of the object, block and global heads:
    ``emb . E^T * scale - bias``.

    Args:
        scale (float, optional): Overrides the file's ``scale``; without
            either, :data:`DEFAULT_SCALE` (100).
        bias (float, optional): Overrides the file's ``bias``; without
            either, :data:`DEFAULT_BIAS` (0).
        **kwargs: See :class:`_TextClassifier`.
    """

    def __init__(self,
                 *args,
                 scale: Optional[float] = None,
                 bias: Optional[float] = None,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if scale is None:
            scale = DEFAULT_SCALE if self.file_scale is None else \
                self.file_scale
        if bias is None:
            bias = DEFAULT_BIAS if self.file_bias is None else self.file_bias
        if not scale > 0:
            raise ValueError(f'OADPClassifier: the logit scale must be > 0 '
                             f'(from {self.embeddings_file!r} or the '
                             f'config), got {scale!r}')
        # not `bias`: mmengine's initialisers set any `weight` and `bias`
        self.logit_scale = float(scale)
        self.logit_bias = float(bias)

    def scale_logits(self, cosine: Tensor) -> Tensor:
        return cosine * self.logit_scale - self.logit_bias

    def extra_repr(self) -> str:
        return (f'classes={len(self.classes)}, '
                f'embeddings={self.embeddings_file!r}, '
                f'scale={self.logit_scale}, bias={self.logit_bias}')
