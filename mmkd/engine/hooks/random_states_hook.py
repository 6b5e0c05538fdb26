# Copyright (c) mmkd contributors. All rights reserved.
import logging
from typing import Dict, List, Optional

from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import print_log
from mmengine.runner import IterBasedTrainLoop

from mmkd.registry import HOOKS
from mmkd.utils.random_states import get_random_states, set_random_states


@HOOKS.register_module()
class RandomStatesHook(Hook):
    """Save every rank's random generators in checkpoints and restore them
    on resume, so that a resumed run draws the same numbers (dropout masks,
    random augmentations in the main process) as an uninterrupted one.

    MMEngine saves the seed but not the generators' states, so a resumed
    run with dropout drifts from the uninterrupted one. This hook stores
    the states of Python's ``random``, NumPy, torch (CPU, and the CUDA
    device when there is one) of each rank under ``random_states``.
    ``tools/train.py`` adds it to configs that lack it; upstream projects
    add ``dict(type='mmkd.RandomStatesHook')`` to ``custom_hooks``.

    The states are restored where the uninterrupted run stood when it
    saved them: before the next epoch's data loader is iterated
    (epoch-based loops), or before the next batch is fetched, once the
    iteration-based loop has skipped the batches already trained.
    Validation runs on a copy of the states, so that it draws nothing from
    the training stream (it runs after the checkpoint is saved, and a
    resumed run would otherwise miss its draws).

    Data loader workers have generators of their own, which MMEngine seeds
    anew when they start; with ``persistent_workers=True`` their states are
    not restored.
    """

    # after the other hooks' after_train_iter/epoch (their draws come before
    # the checkpoint) and before CheckpointHook (VERY_LOW), which saves
    priority = 'LOW'

    def __init__(self) -> None:
        self._gathered: Optional[tuple] = None
        self._resumed: Optional[Dict] = None
        self._val_states: Optional[Dict] = None

    # ------------------------------------------------------------------
    # save
    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        self._gather_if_saving(runner, by_epoch=False)

    def after_train_epoch(self, runner) -> None:
        self._gather_if_saving(runner, by_epoch=True)

    def _gather_if_saving(self, runner, by_epoch: bool) -> None:
        # Runner.save_checkpoint (and before_save_checkpoint) runs on rank 0
        # only, so the other ranks send their states here, when they know
        # from the CheckpointHook that a checkpoint is due
        if get_world_size() > 1 and _checkpoint_due(runner, by_epoch):
            self._gathered = ((runner.epoch, runner.iter),
                              all_gather_object(get_random_states()))

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if get_world_size() == 1:
            checkpoint['random_states'] = [get_random_states()]
            return
        stamp = (runner.epoch, runner.iter)
        if self._gathered is not None and self._gathered[0] == stamp:
            checkpoint['random_states'] = self._gathered[1]
            return
        print_log(
            'RandomStatesHook: this checkpoint was not saved by a '
            'CheckpointHook after a training iteration or epoch, so only '
            "rank 0's random states are in it",
            logger='current',
            level=logging.WARNING)
        checkpoint['random_states'] = [get_random_states()]

    # ------------------------------------------------------------------
    # restore
    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        states: Optional[List[Dict]] = checkpoint.get('random_states')
        self._resumed = None
        if states is None:
            return
        rank, world_size = get_rank(), get_world_size()
        if len(states) != world_size:
            print_log(
                f'RandomStatesHook: the checkpoint holds the random states '
                f'of {len(states)} processes, this run has {world_size}; '
                'ranks without saved states keep their seeded generators',
                logger='current',
                level=logging.WARNING)
        if rank < len(states):
            self._resumed = states[rank]

    def before_train_epoch(self, runner) -> None:
        if self._resumed is None:
            return
        if runner.iter == 0:
            # load_from without resume: a new run keeps its seed
            self._resumed = None
            return
        loop = runner.train_loop
        if isinstance(loop, IterBasedTrainLoop):
            # the loop skips the batches already trained after this hook;
            # the states are those from before the next batch's fetch
            loop.dataloader_iterator = _RestoreBeforeFetch(
                loop, runner.iter, self._restore)
        else:
            self._restore()

    def _restore(self) -> None:
        set_random_states(self._resumed)
        self._resumed = None

    # ------------------------------------------------------------------
    # validation draws from a copy of the states
    def before_val(self, runner) -> None:
        self._val_states = get_random_states()

    def after_val(self, runner) -> None:
        if self._val_states is not None:
            set_random_states(self._val_states)
            self._val_states = None


class _RestoreBeforeFetch:
    """Stands in for an iteration-based loop's data iterator until the
    ``skip`` batches trained before the resume are fetched again, then
    calls ``restore`` and puts the loop's iterator back."""

    def __init__(self, loop, skip: int, restore) -> None:
        self._loop = loop
        self._iterator = loop.dataloader_iterator
        self._skip = skip
        self._restore = restore

    def __iter__(self):
        return self

    def __next__(self):
        if self._skip == 0:
            self._restore()
            self._loop.dataloader_iterator = self._iterator
        self._skip -= 1
        return next(self._iterator)

    def __getattr__(self, name: str):
        return getattr(self._iterator, name)


def _checkpoint_due(runner, by_epoch: bool) -> bool:
    """Whether a CheckpointHook saves at the end of this iteration (or
    epoch), by its own rule."""
    for hook in runner.hooks:
        if not isinstance(hook, CheckpointHook) or hook.by_epoch != by_epoch:
            continue
        if by_epoch:
            due = hook.every_n_epochs(runner, hook.interval, hook.save_begin)
            last = hook.is_last_train_epoch(runner)
        else:
            due = hook.every_n_train_iters(runner, hook.interval,
                                           hook.save_begin)
            last = hook.is_last_train_iter(runner)
        if due or (hook.save_last and last):
            return True
    return False
