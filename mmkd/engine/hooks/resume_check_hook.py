# Copyright (c) mmkd contributors. All rights reserved.
from typing import List

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapper

from mmkd.registry import HOOKS


@HOOKS.register_module()
class ResumeCheckHook(Hook):
    """Refuse to resume from a checkpoint whose trainable parameters are
    not the model's, naming the parameters.

    MMEngine resumes the model weights non-strictly, then fails loading the
    optimizer state with ``loaded state dict contains a parameter group
    that doesn't match the size of optimizer's group`` when, say, a
    connector was added to the config since the checkpoint was written
    (or resumes silently when the counts happen to agree). This hook checks
    the checkpoint first and says which parameters are new and what to do.
    ``tools/train.py`` adds it to configs that lack it.
    """

    # after hooks that adjust the loaded checkpoint (e.g. DistillHook)
    priority = 'LOW'

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not getattr(runner, '_resume', False) or \
                'optimizer' not in checkpoint:
            return
        model = runner.model
        model = model.module if is_model_wrapper(model) else model
        saved = checkpoint.get('state_dict', {})
        new = [
            name for name, param in model.named_parameters()
            if param.requires_grad and name not in saved
        ]
        optim_wrapper = runner.optim_wrapper
        sizes = saved_sizes = None
        if isinstance(optim_wrapper, OptimWrapper) and \
                'param_groups' in checkpoint['optimizer']:
            sizes = _group_sizes(optim_wrapper.optimizer.param_groups)
            saved_sizes = _group_sizes(
                checkpoint['optimizer']['param_groups'])
        if not new and sizes == saved_sizes:
            return
        path = runner._load_from or 'the latest checkpoint of the work_dir'
        if new:
            what = (f'the model has {len(new)} trainable parameters that '
                    f'the checkpoint lacks: {_names(new)}')
        else:
            what = (f'its optimizer state holds {saved_sizes} parameters '
                    f'per group, the optimizer now {sizes}')
        raise RuntimeError(
            f'cannot resume from {path}: {what}. Its optimizer state does '
            'not fit the model of this config (was a connector, loss or '
            'module added since it was saved?). Either train from its '
            'weights without resume (load_from=<checkpoint> and no '
            '--resume: the new parameters start from their initialisation, '
            'the optimizer and schedule from the start), or remove what '
            'was added to resume exactly.')


def _group_sizes(groups: List[dict]) -> List[int]:
    return [len(group['params']) for group in groups]


def _names(names: List[str], limit: int = 8) -> str:
    shown = ', '.join(names[:limit])
    return shown + (f' and {len(names) - limit} more'
                    if len(names) > limit else '')
