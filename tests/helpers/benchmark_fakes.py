# Copyright (c) mmkd contributors. All rights reserved.
"""Fake ``tools/train.py`` / ``tools/test.py`` runs and spec files for the
tests of the benchmark harness (``tools/analysis_tools/benchmark.py``)."""
import json
import os
import os.path as osp
import textwrap


class FakeTools:
    """Stands in for ``tool_runs.run``: a train command writes its final
    checkpoint and a scalars.json, a test command its metrics json, from
    ``score(run, split)`` where run is ``'seed<S>/<row>'`` or ``'<row>'``.
    """

    def __init__(self, work_dir, score):
        self.work_dir, self.score, self.calls = str(work_dir), score, []
        self.envs = []  # each training's extra environment

    def __call__(self, cmd, log_file, env=None, append=False):
        options = (
            cmd[cmd.index('--cfg-options') +
                1:] if '--cfg-options' in cmd else [])
        work_dir = cmd[cmd.index('--work-dir') + 1]
        if cmd[1] == 'tools/train.py':
            run = osp.relpath(work_dir, self.work_dir)
            seed = int(options[0].split('=')[1])
            self.calls.append(('train', run, seed, options[1:]))
            self.envs.append(env)
            ckpt = osp.join(work_dir, 'iter_4.pth')
            with open(ckpt, 'w') as f:
                f.write('weights')
            # older than any test of it, however coarse the clock
            os.utime(ckpt, (1e9, 1e9))
            vis = osp.join(work_dir, '20260101_000000', 'vis_data')
            os.makedirs(vis)
            final = self.score(run, 'val')
            with open(osp.join(vis, 'scalars.json'), 'w') as f:
                for step in (1, 2, 3, 4):
                    f.write(
                        json.dumps(dict(lr=0.1, loss=1 / step, step=step)) +
                        '\n')
                    if step % 2 == 0:
                        f.write(
                            json.dumps(dict(mIoU=final * step / 4, step=0)) +
                            '\n')
        else:
            out = cmd[cmd.index('--dump-metrics') + 1]
            test_dir = osp.relpath(osp.dirname(out), self.work_dir)
            run, split = test_dir, 'val'
            if osp.basename(test_dir) in ('heldout', 'clean'):
                run, split = osp.split(test_dir)
            self.calls.append(('test', test_dir, options))
            with open(out, 'w') as f:
                json.dump(dict(mIoU=self.score(run, split), aAcc=90.0), f)

    def trained(self):
        return [c[1:3] for c in self.calls if c[0] == 'train']


def write_config(tmp_path):
    """A config whose final checkpoint is iter_4.pth, fast to parse."""
    config = tmp_path / 'tiny.py'
    config.write_text('train_cfg = dict(max_iters=4)\n')
    return str(config)


def write_spec(tmp_path, body, name='spec'):
    path = tmp_path / f'{name}.py'
    path.write_text('from benchmark import *  # noqa\n' + textwrap.dedent(
        body).format(config=write_config(tmp_path), tmp=tmp_path))
    return str(path)
