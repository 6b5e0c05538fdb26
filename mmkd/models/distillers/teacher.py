# Copyright (c) mmkd contributors. All rights reserved.
"""Build a model from a config (in its own scope) and load a teacher."""
import os.path as osp
from typing import Union

import torch.nn as nn
from mmengine.config import Config, ConfigDict
from mmengine.config.utils import (_get_external_cfg_base_path,
                                   _get_package_and_cfg_path)
from mmengine.utils import get_installed_path, is_installed

from mmkd.registry import MODELS
from mmkd.utils.checkpoint import load_checkpoint

ModelCfg = Union[dict, ConfigDict]


def resolve_model_cfg(cfg: ModelCfg, role: str) -> ConfigDict:
    """Return a buildable model config.

    Args:
        cfg (dict): Either a model config (``dict(type=...)``) or
            ``dict(cfg_path='mmseg::pspnet/pspnet_r18-...py')`` naming a
            whole config file whose ``model`` is taken, built in that file's
            ``default_scope``. Other keys next to ``cfg_path`` override keys
            of that model.
        role (str): ``'student'`` or ``'teacher'``, used in messages.

    Returns:
        ConfigDict: The model config, with ``_scope_`` set when known.
    """
    if not isinstance(cfg, (dict, ConfigDict)):
        raise TypeError(f'{role} must be a model config dict, got '
                        f'{type(cfg).__name__}')
    cfg = ConfigDict(cfg)
    if 'cfg_path' not in cfg:
        if 'type' not in cfg:
            raise KeyError(f"{role} config needs 'type' or 'cfg_path', got "
                           f'keys {sorted(cfg)}')
        return _with_scope(cfg)
    cfg_path = cfg.pop('cfg_path')
    file_cfg = Config.fromfile(_config_file(cfg_path, role))
    if 'model' not in file_cfg:
        raise KeyError(f'{role}.cfg_path {cfg_path!r} has no `model` key')
    model = ConfigDict(
        Config._merge_a_into_b(cfg.to_dict(), file_cfg.model.to_dict()))
    scope = file_cfg.get('default_scope')
    if scope and '_scope_' not in model and '.' not in str(model.type):
        model._scope_ = scope
    return _with_scope(model)


def _config_file(cfg_path: str, role: str) -> str:
    """Resolve ``'mmdet::path/in/configs.py'`` or a local path to a file."""
    path = cfg_path
    if '::' in cfg_path:
        package, rel_path = _get_package_and_cfg_path(cfg_path)
        if not is_installed(package):
            raise ModuleNotFoundError(f'{role}.cfg_path {cfg_path!r}: '
                                      f'package {package!r} is not installed')
        path = _get_external_cfg_base_path(
            get_installed_path(package), rel_path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{role}.cfg_path: no config file at '
                                f'{cfg_path!r}')
    return path


def _with_scope(cfg: ConfigDict) -> ConfigDict:
    # Nested modules are looked up in the default scope, so a model named
    # 'mmseg.EncoderDecoder' must be built with mmseg as the default scope.
    if '_scope_' not in cfg and isinstance(cfg.type, str) and \
            '.' in cfg.type:
        cfg._scope_, cfg.type = cfg.type.split('.', 1)
    return cfg


def build_model(cfg: ModelCfg, role: str) -> nn.Module:
    """Build a student or teacher model in the scope its config names."""
    return MODELS.build(resolve_model_cfg(cfg, role))


def load_teacher_checkpoint(teacher: nn.Module,
                            teacher_ckpt: str,
                            key: str = 'teacher_ckpt') -> None:
    """Load ``teacher_ckpt`` into ``teacher`` strictly, on the CPU.

    Local files and ``http(s)://`` URLs are loaded with
    ``weights_only=True`` (:func:`mmkd.utils.checkpoint.load_checkpoint`),
    so a checkpoint cannot run code.

    Args:
        teacher (nn.Module): The teacher model.
        teacher_ckpt (str): Local path or URL of the checkpoint. A
            ``state_dict`` key is used when present; a ``module.`` prefix
            left by DDP is removed.
        key (str): The config key ``teacher_ckpt`` was given as, used in
            messages. Defaults to ``'teacher_ckpt'``.

    Raises:
        FileNotFoundError: ``teacher_ckpt`` is a local path that does not
            exist.
        pickle.UnpicklingError: The file is truncated or corrupt, not a
            checkpoint, or holds types outside the ``weights_only``
            allow-list.
        RuntimeError: Keys or shapes of the checkpoint do not match the
            teacher; the message lists them.
    """
    is_url = teacher_ckpt.startswith(('http://', 'https://', 's3://'))
    if not is_url and '://' not in teacher_ckpt and not osp.isfile(
            teacher_ckpt):
        raise FileNotFoundError(
            f'{key} {teacher_ckpt!r} does not exist. Train the '
            f'teacher first or point {key} to its checkpoint.')
    checkpoint = load_checkpoint(teacher_ckpt, map_location='cpu', key=key)
    state_dict = checkpoint.get('state_dict', checkpoint)
    if all(k.startswith('module.') for k in state_dict):
        state_dict = {k[len('module.'):]: v for k, v in state_dict.items()}
    try:
        teacher.load_state_dict(state_dict, strict=True)
    except RuntimeError as e:
        hint = ''
        if any(k.startswith('student.') for k in state_dict):
            hint = (' It looks like a distillation checkpoint; export its '
                    'student with tools/export_student.py first.')
        raise RuntimeError(
            f'{key} {teacher_ckpt!r} does not match the teacher '
            f'{type(teacher).__name__}.{hint}\n{e}') from None
