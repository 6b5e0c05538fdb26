# Copyright (c) mmkd contributors. All rights reserved.
"""Records of finished benchmark runs, kept in the repository.

A benchmark on CPU can outlast the machine it started on: work dirs (and
their checkpoints) are not committed. ``benchmark.py --records`` writes one
small JSON file per finished run (row and seed): what went in (config path,
SHA-256 of the resolved config, seed, overrides, the teacher's weights
digest, the digests of the data files the splits' prepare steps made: a
teacher side trained there, generated scenes), what came out (the weights
digest, the metrics of every test split, the val and loss curves) and
where (date and git commit when the record was written, the training's
thread count). A later ``--records`` run on any machine takes a run's
numbers from its record instead of training it when every input matches
and no run still to train needs its checkpoint (a teacher is trained again
then, with its record's ``OMP_NUM_THREADS``, and its students' records
count only if it comes out with the recorded weights: a CPU training
repeats bit for bit with the same thread count on the same kind of
machine).

Layout: ``<dir>/<row>.json`` (rows trained once) and
``<dir>/seed<S>/<row>.json``.
"""
import datetime
import hashlib
import json
import os
import os.path as osp
import subprocess
from typing import Optional

import tool_runs


def _hash_into(sha, obj) -> None:
    """Feed ``obj`` (tensors, arrays, dicts in key order, sequences, plain
    values) into ``sha``."""
    import numpy as np
    import torch
    if torch.is_tensor(obj):
        obj = obj.detach().cpu().contiguous()
        sha.update(f'tensor:{obj.dtype}:{tuple(obj.shape)}:'.encode())
        if obj.numel():
            sha.update(obj.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(obj, np.ndarray):
        sha.update(f'array:{obj.dtype}:{obj.shape}:'.encode())
        sha.update(np.ascontiguousarray(obj).tobytes())
    elif isinstance(obj, dict):
        sha.update(b'dict{')
        for key in sorted(obj, key=repr):
            sha.update(repr(key).encode() + b':')
            _hash_into(sha, obj[key])
        sha.update(b'}')
    elif isinstance(obj, (list, tuple)):
        sha.update(b'seq[')
        for item in obj:
            _hash_into(sha, item)
        sha.update(b']')
    else:
        sha.update(repr(obj).encode())


def weights_digest(ckpt: str) -> str:
    """SHA-256 of a checkpoint's ``state_dict`` (names, dtypes, shapes and
    values): equal weights give equal digests, whatever the checkpoint's
    metadata (times, paths) or optimizer state. A ``.pth`` file without a
    ``state_dict`` (e.g. text embeddings) is digested whole."""
    import torch
    state = torch.load(ckpt, map_location='cpu', weights_only=False)
    if isinstance(state, dict) and 'state_dict' in state:
        state = state['state_dict']
    sha = hashlib.sha256()
    _hash_into(sha, state)
    return sha.hexdigest()


def data_digest(path: str) -> str:
    """SHA-256 of a data file a split's prepare step made: a ``.pth`` by
    its content (:func:`weights_digest`: a checkpoint's saving time does
    not count), the ``meta.json`` of an mmkd cache by what the cache holds
    (``mmkd.utils.cache_files.content_digest``: not its build's random
    folder name or its inputs' modification times), any other file by its
    bytes."""
    if path.endswith('.pth'):
        return weights_digest(path)
    if osp.basename(path) == 'meta.json':
        from mmkd.utils.cache_files import content_digest
        with open(path) as f:
            try:
                meta = json.load(f)
            except json.JSONDecodeError:
                meta = None
        if isinstance(meta, dict) and 'entry_dir' in meta:
            return content_digest(meta)
    sha = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            sha.update(block)
    return sha.hexdigest()


class _DigestCache:
    """``weights_digest`` by path, recomputed when the file changes."""

    def __init__(self):
        self._seen = {}

    def __call__(self, ckpt: str) -> str:
        key = (osp.abspath(ckpt), osp.getmtime(ckpt), osp.getsize(ckpt))
        if key not in self._seen:
            self._seen[key] = weights_digest(ckpt)
        return self._seen[key]


digest_of = _DigestCache()


#: CPU features that change which float kernels torch runs
_ISA_FLAGS = ('avx2', 'avx512f', 'avx512_bf16', 'amx_tile')


def machine() -> dict:
    """The CPU (``/proc/cpuinfo``'s model name, family and model, the
    :data:`_ISA_FLAGS` it has) and torch version a run is made with: CPU
    trainings repeat bit for bit only on the same kernels."""
    import torch
    info = {}
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                key, sep, value = line.partition(':')
                if not sep:
                    if info:
                        break  # the first processor's block only
                    continue
                info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    flags = set(info.get('flags', '').split())
    return dict(
        cpu=info.get('model name', 'unknown'),
        cpu_family_model=f'{info.get("cpu family", "?")}/'
        f'{info.get("model", "?")}',
        isa=[flag for flag in _ISA_FLAGS if flag in flags],
        torch=torch.__version__)


def describe_machine(made: Optional[dict]) -> str:
    if not made:
        return 'an unrecorded machine'
    return (f'{made.get("cpu")} {made.get("cpu_family_model")} '
            f'[{" ".join(made.get("isa", []))}], torch {made.get("torch")}')


def provenance() -> dict:
    """When, from which commit (``-dirty``: with uncommitted changes) and
    on which machine (:func:`machine`)."""
    try:
        commit = subprocess.run(
            ['git', 'describe', '--always', '--dirty', '--abbrev=12'],
            cwd=tool_runs.ROOT,
            capture_output=True,
            text=True,
            check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = 'unknown'
    return dict(
        date=datetime.datetime.now(datetime.timezone.utc).strftime(
            '%Y-%m-%d %H:%M UTC'),
        commit=commit,
        machine=machine())


def train_inputs(config: str, seed: Optional[int], options: list,
                 teacher_sha256: Optional[str]) -> dict:
    """What a training run's result depends on. ``options`` without the
    teacher's checkpoint path (machine-specific): its weights digest
    stands for it."""
    return dict(
        config=config,
        config_sha256=tool_runs.config_digest(config),
        seed=seed,
        options=list(options),
        teacher_sha256=teacher_sha256)


def test_inputs(config: str, options: list) -> dict:
    """What a test's result depends on besides the weights tested."""
    return dict(
        config=config,
        config_sha256=tool_runs.config_digest(config),
        options=list(options))


class RecordBook:
    """The records of one benchmark spec, in a folder.

    Args:
        root (str): The folder, e.g. ``docs/benchmark_records/<spec>``.
    """

    def __init__(self, root: str):
        self.root = root

    def path(self, row: str, seed: Optional[int]) -> str:
        if seed is None:
            return osp.join(self.root, f'{row}.json')
        return osp.join(self.root, f'seed{seed}', f'{row}.json')

    def load(self, row: str, seed: Optional[int]) -> Optional[dict]:
        path = self.path(row, seed)
        if not osp.isfile(path):
            return None
        with open(path) as f:
            try:
                return json.load(f)
            except json.JSONDecodeError as e:
                raise ValueError(f'benchmark record {path} is not valid '
                                 f'JSON ({e}); delete it to run again') from e

    def usable(self, row: str, seed: Optional[int], train: dict, tests: dict,
               data: dict) -> Optional[dict]:
        """The record of ``row``/``seed`` if it was made from exactly these
        training inputs, with these data files (``{path: data_digest}``:
        the record must have each with that digest) and holds a test of
        every split in ``tests`` (``{split: test_inputs}``) made from the
        same inputs; else None."""
        record = self.load(row, seed)
        if record is None or self.mismatch(record, train, tests, data):
            return None
        return record

    @staticmethod
    def mismatch(record: dict, train: dict, tests: dict,
                 data: dict) -> Optional[str]:
        """Why ``record`` was not made from these inputs (see
        :meth:`usable`), naming the first input that differs; None when it
        was. A data file that differs is named with the machines that made
        it and this one: CPU kernels (AVX-512 or not) change float sums."""
        recorded_train = record.get('train', {})
        if recorded_train != train:
            keys = sorted(set(recorded_train) | set(train), key=str)
            differ = [k for k in keys
                      if recorded_train.get(k) != train.get(k)]
            return f'its training inputs differ ({", ".join(differ)})'
        recorded_data = record.get('data', {})
        for path, digest in data.items():
            if recorded_data.get(path) != digest:
                made = record.get('made', {}).get('machine')
                return (f'{path} is not the file it was made with (made on '
                        f'{describe_machine(made)}, here '
                        f'{describe_machine(machine())})')
        recorded = record.get('tests', {})
        for split, inputs in tests.items():
            if split not in recorded:
                return f'it has no test on {split!r}'
            if recorded[split].get('inputs') != inputs:
                return f'its test on {split!r} had other inputs'
        return None

    def save(self, row: str, seed: Optional[int], train: dict,
             weights_sha256: str, tests: dict, curves: dict, data: dict,
             threads: Optional[list] = None) -> str:
        """Write the record of a finished run; return its path.

        ``tests``: ``{split: (test_inputs, metrics)}``; ``data``: ``{path:
        data_digest}`` of the data files it used; ``threads``: the
        ``OMP_NUM_THREADS`` of each start of its training
        (``tool_runs.read_threads``). The tests of other splits (and their
        data files) in an existing record of the same training and weights
        are kept.
        """
        old = self.load(row, seed) or {}
        kept, kept_data = {}, {}
        if old.get('train') == train and \
                old.get('weights_sha256') == weights_sha256:
            kept, kept_data = old.get('tests', {}), old.get('data', {})
        kept_data = dict(kept_data, **data)
        kept.update({
            split: dict(inputs=inputs, metrics=metrics)
            for split, (inputs, metrics) in tests.items()
        })
        record = dict(
            row=row,
            seed=seed,
            train=train,
            weights_sha256=weights_sha256,
            tests=kept,
            data=kept_data,
            curves={
                key: {str(x): v
                      for x, v in sorted(curve.items())}
                for key, curve in curves.items()
            },
            made=dict(provenance(), omp_num_threads=threads))
        if old.get('train') == train and \
                old.get('weights_sha256') == weights_sha256 and \
                old.get('tests') == kept and \
                old.get('data') == kept_data and \
                old.get('curves') == record['curves'] and \
                old.get('made', {}).get('omp_num_threads') == threads:
            return self.path(row, seed)  # unchanged: keep its date
        path = self.path(row, seed)
        os.makedirs(osp.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            json.dump(record, f, indent=1, sort_keys=True)
            f.write('\n')
        return path


def record_curves(record: dict) -> dict:
    """A record's curves as ``{key: {iteration: value}}``."""
    return {
        key: {int(x): v
              for x, v in curve.items()}
        for key, curve in record.get('curves', {}).items()
    }


def reproducing_env(record: Optional[dict], train: dict) -> Optional[dict]:
    """The environment that trains a recorded run again as it was: its
    ``OMP_NUM_THREADS`` when the record is of the same training inputs and
    every start of it had one count; else None (nothing set)."""
    if record is None or record.get('train') != train:
        return None
    threads = record.get('made', {}).get('omp_num_threads') or []
    if len(set(threads)) != 1 or threads[0] is None:
        return None
    return dict(OMP_NUM_THREADS=threads[0])
