# Copyright (c) mmkd contributors. All rights reserved.
"""Run the user-facing ``tools/train.py`` / ``tools/test.py`` in a
subprocess, reusing finished runs, and read mmengine's training curves.

Shared by ``tools/demo.py`` and the benchmark harness
(``tools/analysis_tools/benchmark.py``), so that both exercise exactly what
a user runs.
"""
import hashlib
import json
import os
import os.path as osp
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def run(cmd, log_file, env=None, append=False):
    """Run ``cmd`` from the repository root, its output to ``log_file``.

    Args:
        cmd (list[str]): The command.
        log_file (str): Its stdout and stderr go here.
        env (dict, optional): Variables set for it on top of this
            process's environment.
        append (bool): Append to ``log_file`` instead of replacing it.

    Raises:
        RuntimeError: If it fails, with the tail of its log.
    """
    print('$ ' + ' '.join(cmd), flush=True)
    start = time.time()
    with open(log_file, 'a' if append else 'w') as log:
        proc = subprocess.run(
            cmd,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, **env) if env else None)
    if proc.returncode != 0:
        with open(log_file) as log:
            tail = log.read()[-3000:]
        raise RuntimeError(f'command failed ({proc.returncode}), see '
                           f'{log_file}:\n{tail}')
    print(
        f'  done in {time.time() - start:.0f} s, log: {log_file}', flush=True)


def final_checkpoint(config, options=()):
    """The file name of a run's final checkpoint: ``iter_<max_iters>.pth``
    or, for an epoch-based loop, ``epoch_<max_epochs>.pth``.

    Args:
        config (str): Config path, relative to the repository root or
            absolute.
        options (Sequence[str]): ``key=value`` overrides of the run; a
            ``train_cfg.max_iters`` / ``max_epochs`` among them counts.
    """
    from mmengine.config import Config
    train_cfg = Config.fromfile(osp.join(ROOT, config)).train_cfg
    by_epoch = 'max_epochs' in train_cfg
    key = 'max_epochs' if by_epoch else 'max_iters'
    last = train_cfg[key]
    for option in options:
        if option.startswith(f'train_cfg.{key}='):
            last = int(option.split('=', 1)[1])
    return f'{"epoch" if by_epoch else "iter"}_{last}.pth'


def train(config, work_dir, seed, options, env=None):
    """Train unless the final checkpoint exists; return its path.

    A run that saved a checkpoint but not its final one (killed) resumes
    from its latest (``tools/train.py --resume``; ``mmkd.RandomStatesHook``
    makes the result the uninterrupted run's), its log appended to.

    ``env``: variables set for the training process (see :func:`run`).

    Each start's ``OMP_NUM_THREADS`` (null: unset) is appended to
    ``<work_dir>/train_threads.json``: CPU kernels sum in another order
    with another thread count, so only a run with the same count
    reproduces a checkpoint bit for bit.
    """
    ckpt = osp.join(work_dir, final_checkpoint(config, options))
    if osp.isfile(ckpt):
        print(f'reusing {ckpt}')
        return ckpt
    os.makedirs(work_dir, exist_ok=True)
    cmd = [sys.executable, 'tools/train.py', config, '--work-dir', work_dir]
    resume = osp.isfile(osp.join(work_dir, 'last_checkpoint'))
    if resume:
        print(f'resuming {work_dir}')
        cmd.append('--resume')
    threads = dict(os.environ, **(env or {})).get('OMP_NUM_THREADS')
    starts = (read_threads(work_dir) or []) if resume else []
    with open(osp.join(work_dir, 'train_threads.json'), 'w') as f:
        json.dump(starts + [threads], f)
    run(cmd + ['--cfg-options', f'randomness.seed={seed}', *options],
        osp.join(work_dir, 'train.log'),
        env,
        append=resume)
    return ckpt


def read_threads(work_dir):
    """The ``OMP_NUM_THREADS`` of each start of a training run (see
    :func:`train`), or None if it was not recorded."""
    return _read_json(osp.join(work_dir, 'train_threads.json'))


def _process_identity(pid):
    """What tells process ``pid`` apart from a later one given the same pid:
    the boot and the process's start time (Linux ``/proc``), or ``None``
    where there is no ``/proc``."""
    try:
        with open('/proc/sys/kernel/random/boot_id') as f:
            boot = f.read().strip()
        with open(f'/proc/{pid}/stat') as f:
            stat = f.read()
    except OSError:
        return None
    # field 22, counted after the command name, which may hold spaces
    return f'{boot}:{stat.rsplit(")", 1)[1].split()[19]}'


class RunLock:
    """Hold ``<work_dir>/run.lock`` while a run trains and is tested, so two
    harness processes sharing a work dir (e.g. one per seed, one thread
    each) never run the same run at once: the second waits, then finds it
    finished and reuses it. A lock whose process is gone (killed, or the
    machine rebooted and gave its pid to another process) is taken over.

    The lock file holds ``{"pid": ..., "identity": ...}`` (identity: boot id
    and start time, see :func:`_process_identity`); a file holding a bare
    pid (an older harness) is judged by the pid alone.

    Args:
        work_dir (str): The run's folder.
        poll (float): Seconds between checks while waiting. Defaults to 30.
    """

    def __init__(self, work_dir, poll=30.0):
        self.path = osp.join(work_dir, 'run.lock')
        self.poll = poll

    def _holder(self):
        """The pid holding the lock, if that process is alive."""
        try:
            with open(self.path) as f:
                text = f.read().strip()
        except OSError:
            return None
        try:
            held = json.loads(text or '0')
        except ValueError:
            return None
        if isinstance(held, dict):
            pid, identity = held.get('pid'), held.get('identity')
        else:
            pid, identity = held, None
        if not isinstance(pid, int) or pid <= 0:
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass  # alive, another user's
        if identity is not None and _process_identity(pid) != identity:
            return None  # the pid now names another process
        return pid

    def __enter__(self):
        os.makedirs(osp.dirname(self.path), exist_ok=True)
        # the lock appears with its content (a hard link of a written file):
        # a lock created empty and read before it is written would look
        # stale to a waiting process, which would remove it
        mine = f'{self.path}.{os.getpid()}'
        with open(mine, 'w') as f:
            json.dump(
                dict(pid=os.getpid(), identity=_process_identity(os.getpid())),
                f)
        try:
            self._acquire(mine)
        finally:
            os.remove(mine)
        return self

    def _acquire(self, mine):
        told = False
        while True:
            try:
                os.link(mine, self.path)
                return
            except FileExistsError:
                pass
            holder = self._holder()
            if holder is None:  # stale: its process died
                try:
                    os.remove(self.path)
                except FileNotFoundError:
                    pass
                continue
            if holder == os.getpid():
                raise RuntimeError(f'{self.path} is already held by this '
                                   'process')
            if not told:
                print(f'waiting for process {holder}, which runs '
                      f'{osp.dirname(self.path)}', flush=True)
                told = True
            time.sleep(self.poll)

    def __exit__(self, *exc):
        try:
            os.remove(self.path)
        except FileNotFoundError:
            pass
        return False


def config_digest(config):
    """SHA-256 of the config as resolved (its bases included): a test of
    an edited config, or of one whose base changed, is not the same test.
    """
    from mmengine.config import Config
    resolved = Config.fromfile(osp.join(ROOT, config)).to_dict()
    text = json.dumps(resolved, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def test(config, ckpt, work_dir, options):
    """Evaluate ``ckpt`` unless ``<work_dir>/test_metrics.json`` is newer
    than it and was made from the same config (path and resolved content),
    checkpoint and options (recorded next to it in ``test_inputs.json``);
    return the metrics dict."""
    os.makedirs(work_dir, exist_ok=True)
    out = osp.join(work_dir, 'test_metrics.json')
    inputs_file = osp.join(work_dir, 'test_inputs.json')
    inputs = dict(
        config=config,
        config_sha256=config_digest(config),
        checkpoint=ckpt,
        options=list(options))
    if osp.isfile(out) and osp.getmtime(out) > osp.getmtime(ckpt) and \
            _read_json(inputs_file) == inputs:
        return _read_json(out)
    cmd = [
        sys.executable, 'tools/test.py', config, ckpt, '--work-dir',
        osp.join(work_dir, 'test'), '--dump-metrics', out
    ]
    if options:
        cmd += ['--cfg-options', *options]
    run(cmd, osp.join(work_dir, 'test.log'))
    with open(inputs_file, 'w') as f:
        json.dump(inputs, f)
    return _read_json(out)


def _read_json(path):
    """The file's JSON, or None when it does not exist."""
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def read_scalars(work_dir):
    """The records of every ``<work_dir>/<timestamp>/vis_data/scalars.json``
    (mmengine's LocalVisBackend), oldest run first."""
    if not osp.isdir(work_dir):
        return []
    records = []
    for run_dir in sorted(os.listdir(work_dir)):
        path = osp.join(work_dir, run_dir, 'vis_data', 'scalars.json')
        if osp.isfile(path):
            with open(path) as f:
                records += [json.loads(line) for line in f if line.strip()]
    return records


def read_curve(work_dir, key):
    """``{iteration: value}`` of ``key`` in a training run's scalars.

    A training record's ``step`` is its iteration. A validation record's
    ``step`` is its iteration, its epoch or 0, depending on the loop and on
    ``LoggerHook.log_metric_by_epoch``, so a metric goes to the larger of
    its step and the iteration of the last training record before it.
    """
    curve, last_iter = {}, 0
    for rec in read_scalars(work_dir):
        if 'lr' in rec or 'loss' in rec:  # a training record
            last_iter = rec.get('step', last_iter)
            if key in rec:
                curve[rec['step']] = rec[key]
        elif key in rec:
            curve[max(rec.get('step', 0), last_iter)] = rec[key]
    return curve
