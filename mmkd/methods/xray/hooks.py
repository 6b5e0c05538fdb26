# Copyright (c) mmkd contributors. All rights reserved.
"""Refuse an X-Ray run on the wrong infos before training is spent."""
import os.path as osp
from typing import List, Optional, Tuple

from mmengine.config import Config
from mmengine.hooks import Hook

from mmkd.registry import HOOKS

TOOL = 'tools/dataset_converters/xray_object_complete.py'
_ROLES = ('teacher', 'student')


def train_infos(cfg: Config, where: str) -> Tuple[str, str]:
    """The info file and the dataroot a config trains on (through dataset
    wrappers such as ``CBGSDataset``)."""
    dataset = cfg.get('train_dataloader', {}).get('dataset')
    while dataset is not None and 'ann_file' not in dataset:
        dataset = dataset.get('dataset')
    if dataset is None:
        raise ValueError(f'{where}: no train_dataloader.dataset with an '
                         'ann_file to check')
    root = dataset.get('data_root') or ''
    return osp.join(root, dataset['ann_file']), root


def teacher_configs(cfg: Config) -> List[str]:
    """The teacher config files a DistillModel or DistillHook reads."""
    teachers = [cfg.get('model', {}).get('teacher')]
    teachers += [
        hook.get('teacher') for hook in cfg.get('custom_hooks', [])
        if str(hook.get('type', '')).endswith('DistillHook')
    ]
    return [t['cfg_path'] for t in teachers
            if isinstance(t, dict) and 'cfg_path' in t]


def check_role(info_file: str, root: str, role: str, where: str,
               check_files: bool = True) -> None:
    """Refuse infos that are not X-Ray's of ``role``.

    With ``check_files`` the infos are read and every Object-Complete,
    keyframe, sweep and image file is checked
    (:func:`mmkd.methods.xray.check_infos`); without, only the file name
    the tool gives them (``*_xray-<role>.pkl``) is.
    """
    suffix = f'_xray-{role}.pkl'
    if not check_files:
        if not info_file.endswith(suffix):
            raise ValueError(
                f'{where} trains on {info_file!r}, not on {role} infos of '
                f'Object-Complete frames (*{suffix}, written by {TOOL})')
        return
    # the generator's helpers import SimScenes' numba code: on demand
    from .checks import check_infos
    try:
        found = check_infos(info_file, root)
    except ValueError as e:
        raise ValueError(f'{where} trains on {info_file!r}, not on X-Ray '
                         f'{role} infos (*{suffix}): {e}') from e
    if found != role:
        raise ValueError(
            f'{where} trains on {info_file!r}, X-Ray {found} infos, but '
            f'needs the {role} infos (*{suffix}, written by {TOOL}): the '
            "teacher trains on the Object-Complete frames, the student on "
            'the normal ones with lidar_path_teacher')


@HOOKS.register_module()
class XRayInfosCheckHook(Hook):
    """Check before training that an X-Ray run reads X-Ray's infos.

    A teacher config (``role='teacher'``) must train on the
    ``*_xray-teacher.pkl`` infos (Object-Complete keyframes); a student
    config (``role='student'``) on ``*_xray-student.pkl`` (normal keyframes
    with ``lidar_path_teacher``), and its teacher's config (the
    ``cfg_path`` of its ``DistillModel`` or ``DistillHook`` teacher, or
    ``teacher_configs``) on teacher infos: a teacher trained on the normal
    frames is no X-Ray teacher. The run's own infos are read and every file
    they name is checked (:func:`mmkd.methods.xray.check_infos`: a missing
    Object-Complete frame is named); a teacher config's infos are read if
    they exist where the config says, else their file name is checked.

    Args:
        role (str): ``'teacher'`` or ``'student'``.
        teacher_configs (list[str], optional): The teacher's config files;
            None takes those of the run's DistillModel or DistillHook.
        check_files (bool): Check every file the run's infos name (a stat
            per file). Defaults to True.
    """

    priority = 'VERY_HIGH'

    def __init__(self,
                 role: str,
                 teacher_configs: Optional[List[str]] = None,
                 check_files: bool = True) -> None:
        if role not in _ROLES:
            raise ValueError(f'XRayInfosCheckHook: role must be one of '
                             f'{_ROLES}, got {role!r}')
        self.role = role
        self.teacher_configs = teacher_configs
        self.check_files = check_files

    def check(self, cfg: Config) -> None:
        """Check a run's config (and its teacher's); raise on the first
        wrong infos."""
        where = f'the X-Ray {self.role} config {cfg.filename!r}'
        info_file, root = train_infos(cfg, where)
        check_role(info_file, root, self.role, where, self.check_files)
        if self.role == 'teacher':
            return
        paths = self.teacher_configs
        if paths is None:
            paths = teacher_configs(cfg)
        if not paths:
            raise ValueError(
                f'{where} names no teacher config (model.teacher.cfg_path '
                'or a DistillHook teacher); give teacher_configs')
        for path in paths:
            teacher = Config.fromfile(path)
            where = f'the X-Ray teacher config {path!r}'
            info_file, root = train_infos(teacher, where)
            check_role(info_file, root, 'teacher', where,
                       self.check_files and osp.isfile(info_file))

    def before_train(self, runner) -> None:
        self.check(runner.cfg)
