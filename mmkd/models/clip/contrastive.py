# Copyright (c) mmkd contributors. All rights reserved.
"""Contrastive training of the CLIP towers (Radford et al., ICML 2021), for
small CLIP teachers trained from scratch (DigitScenes' open-vocabulary
teacher), and what they are saved and scored with.
"""
import math
from typing import Dict, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .checkpoint import TEXT_KEY, VISION_PREFIX
from .image_tower import CLIPImageTower
from .text_tower import CLIPTextTower

__all__ = [
    'clip_contrastive_loss', 'clip_param_groups', 'clip_train_step',
    'fit_sigmoid_scale_bias', 'openai_state_dict', 'zero_shot_accuracy'
]

#: OpenAI clamps the learned logit scale at 100
MAX_LOGIT_SCALE = 100.


def clip_contrastive_loss(image_embeds: Tensor,
                          text_embeds: Tensor,
                          logit_scale: Tensor,
                          labels: Optional[Tensor] = None) -> Tensor:
    """CLIP's symmetric InfoNCE loss, or UniCL's with ``labels``.

    With ``I`` and ``T`` the L2-normalised embeddings (N, D) and
    ``s = exp(logit_scale)``, the logits are ``s * I @ T.T``; image ``i``'s
    positive is text ``i``. The loss is the mean of the cross-entropies
    over the rows (each image against all texts) and over the columns (each
    text against all images).

    With ``labels`` (UniCL, Yang et al., CVPR 2022), every pair of the same
    label is positive: each row's (and column's) target is uniform over its
    positives, ``-sum_j y_ij / |P_i| * log softmax_j``. CLIP's one-positive
    targets are wrong for captions made from a few class names: a batch
    holds many captions of each class, and image ``i`` would be pushed away
    from the other captions of its own class.

    Args:
        image_embeds (Tensor): Image embeddings (N, D), not normalised.
        text_embeds (Tensor): Their texts' embeddings (N, D).
        logit_scale (Tensor): The log of the logit scale (OpenAI's
            ``logit_scale`` parameter), a scalar.
        labels (Tensor, optional): Each pair's class (N,). Defaults to
            None: pair ``i`` is only positive with itself (CLIP).

    Returns:
        Tensor: The loss, a scalar.
    """
    if image_embeds.dim() != 2 or image_embeds.shape != text_embeds.shape:
        raise ValueError(
            'clip_contrastive_loss takes image and text embeddings of the '
            f'same shape (N, D), got {list(image_embeds.shape)} and '
            f'{list(text_embeds.shape)}')
    if logit_scale.numel() != 1:
        raise ValueError('clip_contrastive_loss: logit_scale must be one '
                         f'number, got shape {list(logit_scale.shape)}')
    image = F.normalize(image_embeds.float(), dim=-1)
    text = F.normalize(text_embeds.float(), dim=-1)
    logits = logit_scale.float().exp().reshape(()) * image @ text.t()
    if labels is None:
        target = torch.arange(len(logits), device=logits.device)
        return (F.cross_entropy(logits, target) +
                F.cross_entropy(logits.t(), target)) / 2
    if labels.shape != (len(logits), ):
        raise ValueError(
            f'clip_contrastive_loss: labels of shape {list(labels.shape)} '
            f'for {len(logits)} pairs')
    positive = (labels[:, None] == labels[None]).float()
    target = positive / positive.sum(1, keepdim=True)
    # the positive mask is symmetric: the columns' targets are its rows'
    return (F.cross_entropy(logits, target) +
            F.cross_entropy(logits.t(), target)) / 2


def clip_param_groups(*towers: nn.Module,
                      weight_decay: float) -> Sequence[dict]:
    """Optimizer groups as OpenAI trains CLIP: weight decay on the weight
    matrices (and embeddings), none on gains, biases and the logit scale.
    """
    decay, no_decay = [], []
    for tower in towers:
        for param in tower.parameters():
            if param.requires_grad:
                (decay if param.dim() >= 2 else no_decay).append(param)
    return [
        dict(params=decay, weight_decay=weight_decay),
        dict(params=no_decay, weight_decay=0.)
    ]


def clip_train_step(image_tower: CLIPImageTower,
                    text_tower: CLIPTextTower,
                    images: Tensor,
                    tokens: Tensor,
                    optimizer: torch.optim.Optimizer,
                    labels: Optional[Tensor] = None) -> float:
    """One contrastive step on a batch of image-text pairs.

    The text tower holds the learned ``logit_scale``; after the update it
    is clamped to ``[0, log(100)]``, as OpenAI does.

    Args:
        image_tower (CLIPImageTower): Trained in place.
        text_tower (CLIPTextTower): Trained in place.
        images (Tensor): Normalised images (N, 3, S, S).
        tokens (Tensor): Their captions' token ids (N, L).
        optimizer (Optimizer): Over both towers' parameters.
        labels (Tensor, optional): The pairs' classes (N,): UniCL's
            targets (:func:`clip_contrastive_loss`). Defaults to None.

    Returns:
        float: The batch's loss before the update.
    """
    if len(images) != len(tokens):
        raise ValueError(f'clip_train_step: {len(images)} images but '
                         f'{len(tokens)} token rows')
    # rows can end at the batch's last end-of-text token (causal mask)
    tokens = tokens[:, :int(tokens.argmax(-1).max()) + 1]
    loss = clip_contrastive_loss(
        image_tower(images), text_tower(tokens), text_tower.logit_scale,
        labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        text_tower.logit_scale.clamp_(0, math.log(MAX_LOGIT_SCALE))
    return loss.item()


def openai_state_dict(image_tower: CLIPImageTower,
                      text_tower: CLIPTextTower) -> Dict[str, Tensor]:
    """Both towers' parameters under OpenAI's keys (the image tower under
    ``visual.``, the text tower at the top level), detached on the CPU:
    what ``torch.save`` writes as an OpenAI CLIP state dict."""
    state_dict = {
        VISION_PREFIX + k: v.detach().cpu().clone()
        for k, v in image_tower.state_dict().items()
    }
    for key, value in text_tower.state_dict().items():
        if not TEXT_KEY.match(key):
            raise KeyError(f'text tower key {key!r} is no OpenAI CLIP key')
        state_dict[key] = value.detach().cpu().clone()
    return state_dict


def zero_shot_accuracy(
        logits: Tensor,
        labels: Tensor,
        classes: Sequence[str],
        groups: Optional[Dict[str, Sequence[str]]] = None) -> Dict[str, float]:
    """Top-1 accuracy of ``logits.argmax(-1)`` (over all C classes),
    overall, per group of classes and per class.

    Args:
        logits (Tensor): Class scores (N, C).
        labels (Tensor): True classes (N,).
        classes (Sequence[str]): The C class names.
        groups (dict[str, Sequence[str]], optional): Named groups of
            classes (``base``, ``novel``): the accuracy over the samples
            of their classes.

    Returns:
        dict[str, float]: ``'all'``, each group's name and each class's
        name; NaN where there are no samples.
    """
    classes = list(classes)
    if logits.dim() != 2 or logits.shape[1] != len(classes) or \
            len(logits) != len(labels):
        raise ValueError(
            f'zero_shot_accuracy: logits of shape {list(logits.shape)} for '
            f'{len(labels)} labels and {len(classes)} classes')
    correct = (logits.argmax(-1) == labels).float()

    def mean(mask: Tensor) -> float:
        return correct[mask].mean().item() if mask.any() else math.nan

    accuracy = dict(all=mean(torch.ones_like(correct, dtype=torch.bool)))
    for name, members in (groups or {}).items():
        unknown = [c for c in members if c not in classes]
        if unknown:
            raise ValueError(f'zero_shot_accuracy: group {name!r} has '
                             f'classes {unknown} outside {classes}')
        ids = torch.tensor([classes.index(c) for c in members])
        accuracy[name] = mean(torch.isin(labels, ids))
    for i, name in enumerate(classes):
        accuracy[name] = mean(labels == i)
    return accuracy


def fit_sigmoid_scale_bias(cosines: Tensor,
                           labels: Tensor,
                           steps: int = 200,
                           init_scale: Optional[float] = None) -> tuple:
    """A classifier's ``scale`` and ``bias`` for multi-label scores
    ``sigmoid(cos * scale - bias)``, fitted by binary cross-entropy.

    Args:
        cosines (Tensor): Cosine similarities of samples and class
            embeddings (N, C).
        labels (Tensor): Each sample's class (N,): the one positive of its
            row, the other C - 1 negatives.
        steps (int): L-BFGS iterations. Defaults to 200.
        init_scale (float, optional): Start value. Defaults to 10.

    Returns:
        tuple[float, float]: ``scale`` and ``bias``.
    """
    cosines = cosines.detach().float()
    targets = F.one_hot(labels, cosines.shape[1]).float()
    scale = torch.tensor(float(init_scale or 10.), requires_grad=True)
    bias = torch.zeros((), requires_grad=True)
    optimizer = torch.optim.LBFGS([scale, bias],
                                  max_iter=steps,
                                  line_search_fn='strong_wolfe')

    def closure():
        optimizer.zero_grad()
        loss = F.binary_cross_entropy_with_logits(cosines * scale - bias,
                                                  targets)
        loss.backward()
        return loss

    optimizer.step(closure)
    return scale.item(), bias.item()
