# Copyright (c) mmkd contributors. All rights reserved.
"""OpenAI's CLIP (ViT image tower, text tower), its checkpoints, tokenizer
and class text embeddings: shared by the open-vocabulary methods (OADP,
EZAD, ...), so no method imports another's CLIP."""
from .bpe import learn_bpe, write_bpe
from .checkpoint import (CLIP_MODEL_URLS, clip_text_config, clip_vision_config,
                         load_clip_state_dict, load_state_dict_strictly,
                         resolve_clip_checkpoint)
from .contrastive import (clip_contrastive_loss, clip_param_groups,
                          clip_train_step, fit_sigmoid_scale_bias,
                          openai_state_dict, zero_shot_accuracy)
from .image_tower import CLIPImageTower, interpolate_pos_embed
from .preprocess import (CLIP_MEAN, CLIP_STD, center_crop, center_square_box,
                         clip_normalize, clip_preprocess, clip_square,
                         crop_image, resize_image, resize_shorter,
                         to_rgb_tensor)
from .prompts import TEMPLATES, VILD_TEMPLATES
from .text_embeddings import (TextEmbeddings, load_text_embeddings,
                              prompt_ensemble, save_text_embeddings)
from .text_tower import CLIPTextTower
from .tokenizer import CLIPTokenizer

__all__ = [
    'CLIPImageTower', 'CLIPTextTower', 'CLIPTokenizer', 'CLIP_MEAN',
    'CLIP_MODEL_URLS', 'CLIP_STD', 'TEMPLATES', 'TextEmbeddings',
    'VILD_TEMPLATES', 'center_crop', 'center_square_box',
    'clip_contrastive_loss', 'clip_normalize', 'clip_param_groups',
    'clip_preprocess', 'clip_square', 'clip_text_config', 'clip_train_step',
    'clip_vision_config', 'crop_image', 'fit_sigmoid_scale_bias',
    'interpolate_pos_embed', 'learn_bpe', 'load_clip_state_dict',
    'load_state_dict_strictly', 'load_text_embeddings', 'openai_state_dict',
    'prompt_ensemble', 'resize_image', 'resize_shorter',
    'resolve_clip_checkpoint', 'save_text_embeddings', 'to_rgb_tensor',
    'write_bpe', 'zero_shot_accuracy'
]
