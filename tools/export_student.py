# Copyright (c) mmkd contributors. All rights reserved.
"""Write the student of a distillation checkpoint as a plain checkpoint.

The result loads with ``strict=True`` into the student's own upstream
config, so mmseg's/mmdet's/mmdet3d's tools test and deploy it as any other
model of theirs.

Example:
    python tools/export_student.py CONFIG \\
        work_dirs/<config name>/iter_2000.pth student.pth
"""
import argparse
import os
import os.path as osp

import torch
from mmengine.config import Config

import mmkd  # noqa: F401  (torch.load allow-list)
from mmkd.utils.checkpoint import load_checkpoint

_PREFIX = 'student.'


def export_student(checkpoint: dict) -> dict:
    """Return a plain checkpoint of the student in ``checkpoint``.

    Args:
        checkpoint (dict): A checkpoint saved while training a
            ``DistillModel`` or a method's model with a ``student``
            (e.g. ``LPLDDetector``): its ``state_dict`` keys start with
            ``student.``, ``connectors.``, ...

    Returns:
        dict: ``dict(state_dict=..., meta=...)`` with the ``student.``
        prefix removed and everything else (connectors, optimizer, the mean
        teacher) left out.
    """
    state_dict = checkpoint.get('state_dict', checkpoint)
    student = {
        k[len(_PREFIX):]: v
        for k, v in state_dict.items() if k.startswith(_PREFIX)
    }
    if not student:
        raise KeyError('the checkpoint has no `student.` keys; is it a '
                       'DistillModel checkpoint? First keys: '
                       f'{list(state_dict)[:5]}')
    # plain Python meta: the file then loads with weights_only=True even
    # where mmkd's allow-list of numpy types is not installed
    meta = dict(exported_by='mmkd/tools/export_student.py')
    dataset_meta = checkpoint.get('meta', {}).get('dataset_meta')
    if dataset_meta is not None:
        meta['dataset_meta'] = _to_builtin(dataset_meta)
    return dict(state_dict=student, meta=meta)


def student_config(model_cfg: dict) -> dict:
    """The student's model config in a distillation model config.

    ``student`` for ``DistillModel``; a method's model of its own names the
    key in its class attribute ``student_cfg_key`` (``detector`` for
    ``LPLDDetector``).
    """
    from mmkd.registry import MODELS
    model_type = model_cfg.get('type', '')
    model_cls = (model_type if isinstance(model_type, type) else
                 MODELS.get(model_type))
    key = getattr(model_cls, 'student_cfg_key', 'student')
    if key not in model_cfg:
        raise KeyError(
            f'the config\'s model ({model_cfg.get("type")}) has no '
            f'`{key}` key holding the student\'s config; keys: '
            f'{", ".join(model_cfg)}')
    return model_cfg[key]


def _to_builtin(obj):
    if isinstance(obj, dict):
        return {k: _to_builtin(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_builtin(v) for v in obj]
    if hasattr(obj, 'tolist'):  # numpy arrays and scalars
        return obj.tolist()
    return obj


def parse_args():
    parser = argparse.ArgumentParser(
        description='Export the student of a distillation checkpoint')
    parser.add_argument('config', help='the distillation config')
    parser.add_argument('checkpoint', help='the distillation checkpoint')
    parser.add_argument('out', help='path of the student checkpoint')
    return parser.parse_args()


def main():
    args = parse_args()
    from mmengine.registry import init_default_scope

    from mmkd.models.distillers import build_model
    cfg = Config.fromfile(args.config)
    init_default_scope(cfg.get('default_scope', 'mmkd'))
    # weights_only=True, local file or URL: a checkpoint cannot run code
    checkpoint = load_checkpoint(
        args.checkpoint, map_location='cpu', key='checkpoint')
    exported = export_student(checkpoint)
    # prove the export fits the student's own model before writing it
    student = build_model(student_config(cfg.model), 'student')
    student.load_state_dict(exported['state_dict'], strict=True)
    if osp.dirname(args.out):
        os.makedirs(osp.dirname(args.out), exist_ok=True)
    torch.save(exported, args.out)
    print(f'wrote {len(exported["state_dict"])} student tensors to '
          f'{args.out}')


if __name__ == '__main__':
    main()
