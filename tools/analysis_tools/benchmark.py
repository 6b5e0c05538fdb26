# Copyright (c) mmkd contributors. All rights reserved.
"""Benchmark a method over seeds: train and test the rows of a spec.

A spec (``tools/analysis_tools/benchmarks/<name>.py``, or any file) is a
plain module defining ``SPEC = BenchmarkSpec(...)``: its rows (configs,
which row is whose teacher and whose baseline), seeds, metrics, test splits
and learnability gate. Every run uses the user-facing ``tools/train.py`` /
``tools/test.py`` in a subprocess (``tool_runs``) and is reused when
finished (resumed from its latest checkpoint when killed). The spec is
checked whole (configs, row names, seeds, held-out files, the gate metric)
before anything is trained; a split's missing data is made first by its
``prepare`` steps, where it has them.

Outputs in ``--work-dir`` (default ``work_dirs/benchmark_<spec>``):
``benchmark.json`` (per row, split and metric: per-seed values, mean, std,
paired deltas against the row's baseline, the gate; per split the spec's
``comparisons``, paired deltas of one row against another),
``benchmark.md`` (the same as markdown tables) and ``curves.png`` (val
metric, and the task loss if the spec names one, over iterations: mean over
seeds, min-max band). Runs go to ``<work-dir>/seed<S>/<row>`` (rows
trained per seed) or ``<work-dir>/<row>`` (rows trained once); the tests of
a split other than ``val`` to ``<run>/<split>``. With ``--records``, every
finished run is also recorded in the repository
(``docs/benchmark_records/<spec>/``), and a run with no checkpoint in the
work dir takes its numbers from its record when its inputs match, so a
benchmark can be finished over several machines (``benchmark_records.py``;
the report lists the runs taken from records).

``--runs ROW:SEED ...`` makes only those runs (and the runs whose
checkpoints they need), in that order, and writes no table: a long CPU
benchmark can be finished in pieces that fit a machine's time.

Example:
    python tools/analysis_tools/benchmark.py bpkd_digit-scenes --seeds 0 1 2
    python tools/analysis_tools/benchmark.py unidistill_simscenes \\
        --splits val --rows camera_from_lidar --dry-run

A spec::

    from benchmark import (BenchmarkSpec, Gate, Metric, Row,
                           constant_seg_score)

    SPEC = BenchmarkSpec(
        rows=[
            Row('teacher', 'configs/a/teacher.py', per_seed=False),
            Row('student', 'configs/a/student.py', gate=True),
            Row('kd', 'configs/a/kd.py', teacher='teacher',
                baseline='student'),
        ],
        seeds=[0, 1, 2],
        metrics=[Metric('mIoU')],
        gate=Gate('mIoU', trivial=constant_seg_score(), margin=5.0))
"""
import argparse
import concurrent.futures
import contextlib
import importlib.util
import json
import math
import os
import os.path as osp
import shlex
import sys
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple, Union

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import benchmark_records  # noqa: E402
import tool_runs  # noqa: E402
from benchmark_report import markdown, plot_curves  # noqa: E402

# run as a script this module is __main__: specs import it as ``benchmark``
# and must get these very classes
sys.modules.setdefault('benchmark', sys.modules[__name__])

SPEC_DIR = osp.join(osp.dirname(osp.abspath(__file__)), 'benchmarks')
RECORDS_DIR = osp.join(tool_runs.ROOT, 'docs', 'benchmark_records')
TOOL = 'tools/analysis_tools/benchmark.py'


@dataclass
class Metric:
    """A metric read from the metrics ``tools/test.py --dump-metrics``
    writes.

    Args:
        key (str): Its key there, e.g. ``'coco/bbox_mAP_50'``.
        name (str, optional): Short display name. Defaults to the key's
            last ``/`` component.
        scale (float): Display factor, e.g. 100 for fractions (NuScenes,
            COCO); mmseg's mIoU is already in %. Defaults to 1.
    """
    key: str
    name: Optional[str] = None
    scale: float = 1.0

    def __post_init__(self):
        if self.name is None:
            self.name = self.key.rsplit('/', 1)[-1]


@dataclass
class Split:
    """A test split: overrides of every test run.

    Args:
        options (list[str]): ``key=value`` overrides, e.g. another dataset
            root. Defaults to none (the config's test set).
        requires (list[str]): Paths (relative to the repository root) that
            must exist before anything is trained.
        hint (str): How to make them, shown when one is missing.
        label (str): What the split is, for the table's title.
        prepare (list[tuple[str, list[str]]]): ``(path, command)`` steps
            that make the split's data on first use: before anything is
            trained, in order, each command (an argument list run from the
            repository root with it on ``PYTHONPATH``; a leading
            ``'python'`` is this interpreter) runs if its path (relative to
            the repository root) does not exist, and must make it. A
            missing ``requires`` path that is a step's path is no error.
            Defaults to none.
    """
    options: List[str] = field(default_factory=list)
    requires: List[str] = field(default_factory=list)
    hint: str = ''
    label: str = ''
    prepare: List[Tuple[str, List[str]]] = field(default_factory=list)


@dataclass
class Gate:
    """The learnability gate of the rows with ``gate=True``.

    A gated row must score above ``trivial + margin`` on every reported
    seed and split, else it is reported as FAILED.

    Args:
        metric (str): A key or name of one of the spec's metrics.
        trivial (float | callable): The trivial predictor's score, in
            display units, or ``trivial(cfg)`` computed before any training
            on the test config of each gated row and split, returning the
            evaluator's metrics dict (or the metric's value) in the
            evaluator's units, e.g. :func:`constant_seg_score`.
        margin (float): In display units. Defaults to 0.
    """
    metric: str
    trivial: Union[float, Callable] = 0.0
    margin: float = 0.0


@dataclass
class Row:
    """A model of the benchmark.

    Args:
        name (str): Unique; its run folder's name.
        config (str): Config path, relative to the repository root.
        options (list[str]): ``key=value`` overrides of its train and test
            runs.
        teacher (str, optional): A row whose checkpoint (of the same seed if
            that row is trained per seed, else its one checkpoint) is passed
            as ``teacher_key=<ckpt>`` to the train and test runs.
        teacher_key (str): Defaults to ``'model.teacher_ckpt'``.
        per_seed (bool): Trained for every seed; False: once, with the
            spec's ``fixed_seed`` (a shared teacher, a source model). A
            test-only row has the seeds of its checkpoint's row.
        baseline (str, optional): A row the paired per-seed deltas are
            computed against.
        gate (bool): The row must pass the spec's :class:`Gate`.
        test_only (bool): Not trained: tests ``checkpoint``'s checkpoint
            with this row's config and options.
        checkpoint (str, optional): The row a test-only row tests.
        report (bool): Tested and shown; False: only trained, for the
            checkpoint other rows use (e.g. a source model whose tests are
            a test-only row).
        label (str, optional): Display name. Defaults to ``name``.
    """
    name: str
    config: str
    options: List[str] = field(default_factory=list)
    teacher: Optional[str] = None
    teacher_key: str = 'model.teacher_ckpt'
    per_seed: bool = True
    baseline: Optional[str] = None
    gate: bool = False
    test_only: bool = False
    checkpoint: Optional[str] = None
    report: bool = True
    label: Optional[str] = None

    def __post_init__(self):
        if self.label is None:
            self.label = self.name


@dataclass
class BenchmarkSpec:
    """What a benchmark trains, tests and compares.

    Args:
        rows (list[Row]): In table order.
        metrics (list[Metric]): The table's metrics.
        seeds (list[int]): Reported seeds (mean, std, deltas, gate).
        tuning_seeds (list[int]): Seeds the settings were chosen on: trained
            and shown apart, never pooled into the means.
        fixed_seed (int): The seed of rows trained once.
        splits (dict[str, Split]): Every checkpoint is tested on each.
            Defaults to ``{'val': Split()}``.
        gate (Gate, optional): Needed if a row has ``gate=True``.
        comparisons (list[tuple[str, str]]): ``(row, reference)`` pairs of
            row names compared as a row with its baseline is (paired
            per-seed deltas row - reference, the same verdict), e.g. two
            distilled students. Reported when the row is run, which brings
            the reference along. Defaults to none.
        title (str): The report's title.
        default_rows (list[str], optional): The rows run without ``--rows``
            (their teachers, checkpoints, baselines and comparisons'
            references come along).
            Defaults to all.
        curve_metric (str, optional): Metric key or name plotted over
            training. Defaults to the gate's metric, else the first.
        loss_key (str, optional): Training loss plotted too, e.g. the task
            loss ``'decode.loss_ce'``.
        notes (list[str]): Extra footnotes of ``benchmark.md``.
        per_seed_data (list[str]): Paths of prepare steps (e.g. a teacher
            side trained on CPU, which repeats bit for bit only on the same
            kind of machine) whose files a seed's runs may have been made
            with elsewhere: with ``--records``, a seed all of whose runs
            have records made from the same inputs, with one copy of these
            files among them and every other data file as here, counts
            with its own copy (its rows stay paired on one teacher side);
            a seed only partly recorded is trained here. Its rows' teachers
            must be trained per seed. Defaults to none: every data file of
            a record must be this machine's.
    """
    rows: List[Row]
    metrics: List[Metric]
    seeds: List[int] = field(default_factory=lambda: [0, 1, 2])
    tuning_seeds: List[int] = field(default_factory=list)
    fixed_seed: int = 0
    splits: Dict[str, Split] = field(default_factory=lambda: {'val': Split()})
    gate: Optional[Gate] = None
    comparisons: List[Tuple[str, str]] = field(default_factory=list)
    title: str = ''
    default_rows: Optional[List[str]] = None
    curve_metric: Optional[str] = None
    loss_key: Optional[str] = None
    notes: List[str] = field(default_factory=list)
    per_seed_data: List[str] = field(default_factory=list)


def constant_seg_score(label: int = 0) -> Callable:
    """A ``Gate.trivial`` for mmseg configs: the scores of the constant
    prediction ``label`` (0: all background).

    The returned ``trivial(cfg)`` builds ``cfg.test_dataloader`` and
    ``cfg.test_evaluator``, feeds every sample with a prediction of
    ``label`` everywhere (the ground truth's shape) to the evaluator and
    returns its metrics dict, so the gate metric is checked to be one the
    evaluator produces.
    """

    def trivial(cfg) -> dict:
        import torch
        from mmengine.evaluator import Evaluator
        from mmengine.registry import init_default_scope
        from mmengine.runner import Runner
        from mmengine.structures import PixelData

        import mmkd  # noqa: F401  (mmkd's datasets and metrics)
        init_default_scope(cfg.get('default_scope', 'mmseg'))
        loader = Runner.build_dataloader(cfg.test_dataloader)
        evaluator = cfg.test_evaluator
        evaluator = Evaluator(
            evaluator if isinstance(evaluator, list) else [evaluator])
        evaluator.dataset_meta = loader.dataset.metainfo
        for batch in loader:
            for sample in batch['data_samples']:
                gt = sample.gt_sem_seg.data
                sample.pred_sem_seg = PixelData(
                    data=torch.full_like(gt, label))
            evaluator.process(batch['data_samples'], batch)
        return evaluator.evaluate(len(loader.dataset))

    return trivial


# ---------------------------------------------------------------- the plan


@dataclass
class Plan:
    """A checked spec with the command line's choices."""
    name: str
    spec: BenchmarkSpec
    rows: List[Row]  # selected, in spec order
    order: List[Row]  # selected, dependencies first
    seeds: List[int]
    splits: List[str]
    work_dir: str
    cfg_options: List[str]
    ckpts: Dict[str, str]  # --ckpt ROW=PATH
    # the spec's comparisons whose row is run
    comparisons: List[Tuple[str, str]] = field(default_factory=list)
    metrics: List[Metric] = field(default_factory=list)
    # (split, index, path, command): the prepare steps whose path is missing
    prepare: List[Tuple[str, int, str, List[str]]] = field(
        default_factory=list)
    gate_metric: Optional[Metric] = None
    curve_metric: Optional[Metric] = None
    # --records: finished runs' records (benchmark_records.RecordBook)
    records: Optional[benchmark_records.RecordBook] = None
    # --runs: only these (row name, seed) runs, in this order; None: all
    only: Optional[List[Tuple[str, Optional[int]]]] = None

    def row(self, name: str) -> Row:
        return next(r for r in self.spec.rows if r.name == name)

    def per_seed(self, row: Row) -> bool:
        """Whether ``row`` has a run per seed (see :func:`_per_seed`)."""
        return _per_seed(row, {r.name: r for r in self.spec.rows})

    def run_dir(self, row: Row, seed: Optional[int]) -> str:
        if seed is None:
            return osp.join(self.work_dir, row.name)
        return osp.join(self.work_dir, f'seed{seed}', row.name)

    def test_dir(self, row: Row, seed: Optional[int], split: str) -> str:
        run_dir = self.run_dir(row, seed)
        return run_dir if split == 'val' else osp.join(run_dir, split)


def load_spec(spec: str):
    """Load a spec by name (``benchmarks/<name>.py``) or path; return its
    name, path and ``SPEC``."""
    if spec.endswith('.py') or os.sep in spec:
        path = osp.abspath(spec)
    else:
        path = osp.join(SPEC_DIR, spec + '.py')
    name = osp.splitext(osp.basename(path))[0]
    if not osp.isfile(path):
        known = sorted(
            osp.splitext(f)[0] for f in os.listdir(SPEC_DIR)
            if f.endswith('.py') and not f.startswith('_'))
        raise FileNotFoundError(
            f'benchmark spec {spec!r}: {path} does not exist (specs in '
            f'{SPEC_DIR}: {", ".join(known)})')
    module_spec = importlib.util.spec_from_file_location(
        'benchmark_spec_' + name.replace('-', '_'), path)
    module = importlib.util.module_from_spec(module_spec)
    # importable by that name, e.g. for a test to reach its helpers
    sys.modules[module_spec.name] = module
    module_spec.loader.exec_module(module)
    found = getattr(module, 'SPEC', None)
    if not isinstance(found, BenchmarkSpec):
        raise TypeError(f'{path} must define SPEC = BenchmarkSpec(...), got '
                        f'{type(found).__name__}')
    return name, path, found


def _metric(spec: BenchmarkSpec, key: str, what: str) -> Metric:
    for metric in spec.metrics:
        if key in (metric.key, metric.name):
            return metric
    raise ValueError(f'{what} {key!r} is not one of the spec\'s metrics '
                     f'({", ".join(m.key for m in spec.metrics)})')


def _check_rows(spec: BenchmarkSpec) -> Dict[str, Row]:
    """Row names, references, configs; return the rows by name."""
    rows = {}
    for row in spec.rows:
        if row.name in rows:
            raise ValueError(f'duplicate row name {row.name!r}')
        if not row.name or os.sep in row.name or row.name in ('.', '..'):
            raise ValueError(f'row name {row.name!r} must be a plain folder '
                             'name')
        rows[row.name] = row
    for row in spec.rows:
        config = osp.join(tool_runs.ROOT, row.config)
        if not osp.isfile(config):
            raise FileNotFoundError(
                f'row {row.name!r}: config {row.config} does not exist')
        for key in ('teacher', 'baseline', 'checkpoint'):
            ref = getattr(row, key)
            if ref is None:
                continue
            if ref not in rows:
                raise ValueError(
                    f'row {row.name!r}: {key} {ref!r} is not a row of the '
                    f'spec (rows: {", ".join(rows)})')
            if ref == row.name:
                raise ValueError(f'row {row.name!r} is its own {key}')
        if row.test_only != (row.checkpoint is not None):
            raise ValueError(
                f'row {row.name!r}: a test-only row names the row whose '
                'checkpoint it tests (checkpoint=...), and only a test-only '
                f'row does (test_only={row.test_only}, '
                f'checkpoint={row.checkpoint!r})')
        if row.baseline is not None and not rows[row.baseline].report:
            raise ValueError(f'row {row.name!r}: baseline {row.baseline!r} '
                             'has report=False, so it has no numbers')
        if row.gate and not row.report:
            raise ValueError(f'row {row.name!r}: gate=True needs '
                             'report=True (an untested row has no scores)')
    return rows


def _check_comparisons(spec: BenchmarkSpec, rows: Dict[str, Row]) -> None:
    """Each comparison is a pair of distinct reported rows, given once and
    not already a row's baseline delta (either way round)."""
    seen = {}
    for i, pair in enumerate(spec.comparisons):
        what = f'comparisons[{i}]'
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2
                and all(isinstance(name, str) for name in pair)):
            raise ValueError(f'{what}: a comparison is a (row, reference) '
                             f'pair of row names, got {pair!r}')
        name, ref = pair
        what += f' {(name, ref)!r}'
        for role, key in (('row', name), ('reference', ref)):
            if key not in rows:
                raise ValueError(
                    f'{what}: {role} {key!r} is not a row of the spec '
                    f'(rows: {", ".join(rows)})')
            if not rows[key].report:
                raise ValueError(f'{what}: {role} {key!r} has report=False, '
                                 'so it has no numbers')
        if name == ref:
            raise ValueError(f'{what}: a row compared with itself')
        if rows[name].baseline == ref:
            raise ValueError(
                f'{what}: {ref!r} is already row {name!r}\'s baseline (its '
                'deltas are in the main table)')
        if rows[ref].baseline == name:
            raise ValueError(
                f'{what}: row {ref!r} against its baseline {name!r} '
                'reversed (its deltas are in the main table)')
        if (name, ref) in seen:
            raise ValueError(f'{what} repeats comparisons[{seen[name, ref]}]')
        if (ref, name) in seen:
            raise ValueError(f'{what} repeats comparisons[{seen[ref, name]}] '
                             f'{(ref, name)!r} reversed')
        seen[name, ref] = i


def _dependency_order(rows: Dict[str, Row], names: List[str]) -> List[Row]:
    """``names`` with their teachers and checkpoints, dependencies first.

    Raises:
        ValueError: On a cycle of teachers / checkpoints.
    """
    order, state = [], {}

    def visit(name, path):
        if state.get(name) == 'done':
            return
        if state.get(name) == 'visiting':
            raise ValueError('rows depend on each other in a cycle: ' +
                             ' -> '.join(path + [name]))
        state[name] = 'visiting'
        row = rows[name]
        for dep in (row.checkpoint, row.teacher):
            if dep is not None:
                visit(dep, path + [name])
        state[name] = 'done'
        order.append(row)

    for name in names:
        visit(name, [])
    return order


def _select(rows: Dict[str, Row], spec: BenchmarkSpec,
            wanted: Optional[List[str]]) -> List[str]:
    """The selected rows' names with everything they need, spec order."""
    if wanted is None:
        wanted = spec.default_rows or list(rows)
        what = 'default_rows'
    else:
        what = '--rows'
    for name in wanted:
        if name not in rows:
            raise ValueError(f'{what}: {name!r} is not a row of the spec '
                             f'(rows: {", ".join(rows)})')
    selected, todo = set(), list(wanted)
    while todo:
        name = todo.pop()
        if name in selected:
            continue
        selected.add(name)
        row = rows[name]
        todo += [
            r for r in (row.teacher, row.checkpoint, row.baseline)
            if r is not None
        ]
        todo += [ref for r, ref in spec.comparisons if r == name]
    return [name for name in rows if name in selected]


def _check_seeds(seeds, tuning_seeds):
    if not seeds:
        raise ValueError('the seed list is empty (--seeds or the spec\'s '
                         'seeds): at least one reported seed is needed')
    for what, values in (('seeds', seeds), ('tuning_seeds', tuning_seeds)):
        if len(set(values)) != len(values):
            raise ValueError(f'{what} {values} repeat a seed')
    both = sorted(set(seeds) & set(tuning_seeds))
    if both:
        raise ValueError(f'seeds {both} are both reported and tuning seeds: '
                         'a seed settings were chosen on must not be pooled')


def _check_prepare(split: str, steps) -> List[Tuple[str, List[str]]]:
    """A split's prepare steps, each a (path, command) pair."""
    for i, step in enumerate(steps):
        if not (isinstance(step, (tuple, list)) and len(step) == 2
                and isinstance(step[0], str)
                and isinstance(step[1], (tuple, list)) and step[1]
                and all(isinstance(a, str) for a in step[1])):
            raise ValueError(
                f'split {split!r}: prepare[{i}] is a (path, command) pair, '
                'the command a non-empty list of strings, e.g. '
                "('data/x/infos.pkl', ['python', 'tools/make.py', "
                f"'data/x']), got {step!r}")
    return [(path, list(command)) for path, command in steps]


def prepare_splits(plan: Plan, dry_run: bool = False) -> None:
    """Run the selected splits' prepare steps whose path is missing (logs:
    ``<work-dir>/prepare_<split>_<step>.log``), then check every split's
    ``requires``; with ``dry_run`` only print them.

    Raises:
        FileNotFoundError: If a step does not make its path, or a required
            path is still missing.
    """
    for split, index, path, command in plan.prepare:
        if osp.exists(osp.join(tool_runs.ROOT, path)):
            continue  # made by an earlier step
        cmd = [sys.executable if i == 0 and arg == 'python' else arg
               for i, arg in enumerate(command)]
        if dry_run:
            print(f'prepare {split}: {shlex.join(command)} -> {path}')
            continue
        os.makedirs(plan.work_dir, exist_ok=True)
        log = osp.join(plan.work_dir, f'prepare_{split}_{index}.log')
        path_env = os.environ.get('PYTHONPATH')
        tool_runs.run(
            cmd, log,
            dict(PYTHONPATH=os.pathsep.join(
                [tool_runs.ROOT] + ([path_env] if path_env else []))))
        if not osp.exists(osp.join(tool_runs.ROOT, path)):
            raise FileNotFoundError(
                f'split {split!r}: {shlex.join(command)} ran but did not '
                f'make {path} (log: {log})')
    if dry_run:
        return
    for split in plan.splits:
        for path in plan.spec.splits[split].requires:
            if not osp.exists(osp.join(tool_runs.ROOT, path)):
                raise FileNotFoundError(
                    f'split {split!r} needs {path}, which its prepare steps '
                    'did not make')


def _per_seed(row: Row, rows: Dict[str, Row]) -> bool:
    """Whether ``row`` has a run per seed (a test-only row: as the row it
    tests); ``rows``: the spec's rows by name."""
    if row.test_only:
        return _per_seed(rows[row.checkpoint], rows)
    return row.per_seed


def _parse_runs(items: List[str], rows: Dict[str, Row], seeds: List[int],
                tuning_seeds: List[int],
                fixed_seed: int) -> List[Tuple[str, Optional[int]]]:
    """``--runs`` items (``ROW:SEED``, or ``ROW`` for a row run once) as
    ``(row name, seed)`` steps (seed None for a row run once)."""
    runs = []
    for item in items:
        name, sep, seed = item.partition(':')
        if name not in rows:
            raise ValueError(f'--runs {item}: {name!r} is not a row of the '
                             f'spec (rows: {", ".join(rows)})')
        if not _per_seed(rows[name], rows):
            if sep and seed != str(fixed_seed):
                raise ValueError(
                    f'--runs {item}: row {name!r} is run once (seed '
                    f'{fixed_seed}); name it without a seed')
            runs.append((name, None))
            continue
        try:
            seed = int(seed)
        except ValueError:
            raise ValueError(f'--runs {item}: row {name!r} is run per seed; '
                             'give ROW:SEED') from None
        if seed not in seeds + tuning_seeds:
            raise ValueError(
                f'--runs {item}: seed {seed} is not among the seeds '
                f'({", ".join(map(str, seeds + tuning_seeds))})')
        runs.append((name, seed))
    return list(dict.fromkeys(runs))


def make_plan(args) -> Plan:
    """Load and check the spec against the command line; nothing runs."""
    name, _, spec = load_spec(args.spec)
    rows = _check_rows(spec)
    _check_comparisons(spec, rows)
    if not spec.metrics:
        raise ValueError('the spec names no metrics')
    seeds = list(spec.seeds if args.seeds is None else args.seeds)
    _check_seeds(seeds, list(spec.tuning_seeds))
    only, wanted = None, args.rows
    if args.runs is not None:
        if args.rows is not None:
            raise ValueError('--runs and --rows exclude each other: --runs '
                             'names the rows')
        only = _parse_runs(args.runs, rows, seeds, list(spec.tuning_seeds),
                           spec.fixed_seed)
        wanted = list(dict.fromkeys(name for name, _ in only))
    names = _select(rows, spec, wanted)
    selected = [rows[n] for n in names]
    order = _dependency_order(rows, names)
    for row in selected:
        teacher = rows.get(row.teacher)
        if teacher is not None and not row.test_only and not row.per_seed \
                and teacher.per_seed:
            raise ValueError(
                f'row {row.name!r} is trained once but its teacher '
                f'{teacher.name!r} per seed: which seed\'s teacher?')
        if row.test_only and not row.per_seed and \
                rows[row.checkpoint].per_seed:
            raise ValueError(
                f'row {row.name!r}: per_seed=False, but it tests the '
                f'checkpoints of {row.checkpoint!r}, trained per seed')

    if not spec.splits:
        raise ValueError('the spec has no splits')
    splits = list(spec.splits) if args.splits is None else args.splits
    for split in splits:
        if split not in spec.splits:
            raise ValueError(f'--splits: {split!r} is not a split of the '
                             f'spec (splits: {", ".join(spec.splits)})')
    made = {path for name, split in spec.splits.items()
            for path, _ in _check_prepare(name, split.prepare)}
    for path in spec.per_seed_data:
        if path not in made:
            raise ValueError(
                f'per_seed_data: {path!r} is not the path of a prepare step '
                f'(prepare paths: {", ".join(sorted(made)) or "none"})')
    prepare = []
    for split in splits:
        steps = _check_prepare(split, spec.splits[split].prepare)
        prepare += [(split, i, path, command)
                    for i, (path, command) in enumerate(steps)
                    if not osp.exists(osp.join(tool_runs.ROOT, path))]
        for path in spec.splits[split].requires:
            if not osp.exists(osp.join(tool_runs.ROOT, path)) and \
                    path not in [p for p, _ in steps]:
                hint = spec.splits[split].hint
                raise FileNotFoundError(
                    f'split {split!r} needs {path}, which does not exist' +
                    (f'; make it with: {hint}' if hint else '') +
                    f' (or leave the split out: --splits '
                    f'{" ".join(s for s in splits if s != split) or "..."})')

    for option in args.cfg_options:
        if '=' not in option:
            raise ValueError(f'--cfg-options takes key=value, got {option!r}')
    ckpts = {}
    for item in args.ckpt:
        row_name, sep, path = item.partition('=')
        if not sep or row_name not in rows:
            raise ValueError(f'--ckpt takes ROW=PATH with a row of the spec '
                             f'({", ".join(rows)}), got {item!r}')
        row = rows[row_name]
        if row.per_seed or row.test_only:
            raise ValueError(f'--ckpt {item}: row {row_name!r} is not a row '
                             'trained once (per_seed=False)')
        if row_name not in names:
            raise ValueError(f'--ckpt {item}: row {row_name!r} is not among '
                             f'the rows run ({", ".join(names)})')
        if not osp.isfile(path):
            raise FileNotFoundError(f'--ckpt {item}: {path} does not exist')
        ckpts[row_name] = osp.abspath(path)

    plan = Plan(
        name=name,
        spec=spec,
        rows=selected,
        order=order,
        seeds=seeds,
        splits=splits,
        work_dir=osp.abspath(args.work_dir or f'work_dirs/benchmark_{name}'),
        cfg_options=list(args.cfg_options),
        ckpts=ckpts,
        records=None if args.records is None else
        benchmark_records.RecordBook(
            osp.abspath(args.records or osp.join(RECORDS_DIR, name))),
        comparisons=[
            tuple(pair) for pair in spec.comparisons if pair[0] in names
        ],
        metrics=list(spec.metrics),
        prepare=prepare,
        only=only)
    gated = [r.name for r in selected if r.gate]
    if gated and spec.gate is None:
        raise ValueError(f'rows {gated} have gate=True but the spec has no '
                         'gate=Gate(...)')
    if spec.gate is not None:
        plan.gate_metric = _metric(spec, spec.gate.metric, 'gate metric')
    if spec.curve_metric is not None:
        plan.curve_metric = _metric(spec, spec.curve_metric, 'curve_metric')
    else:
        plan.curve_metric = plan.gate_metric or spec.metrics[0]
    return plan


def _parse_options(options: List[str]) -> dict:
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser()
    parser.add_argument('--o', nargs='+', action=DictAction, default={})
    return parser.parse_args(['--o', *options]).o if options else {}


def trivial_scores(plan: Plan) -> Dict[str, Dict[str, float]]:
    """The gate's trivial score per gated row and split, display units.

    Raises:
        KeyError: If the trivial predictor's evaluator does not produce the
            gate metric (or another of the spec's metrics).
    """
    gate = plan.spec.gate
    scores, cache = {}, {}
    for row in plan.rows:
        if not row.gate:
            continue
        scores[row.name] = {}
        for split in plan.splits:
            if not callable(gate.trivial):
                scores[row.name][split] = float(gate.trivial)
                continue
            from mmengine.config import Config
            cfg = Config.fromfile(osp.join(tool_runs.ROOT, row.config))
            cfg.merge_from_dict(
                _parse_options(row.options + plan.cfg_options +
                               plan.spec.splits[split].options))
            # rows of one test set and evaluator share the evaluation
            key = repr((cfg.get('test_dataloader'), cfg.get('test_evaluator')))
            if key not in cache:
                cwd = os.getcwd()
                os.chdir(tool_runs.ROOT)  # relative roots, as the tools
                try:
                    cache[key] = gate.trivial(cfg)
                finally:
                    os.chdir(cwd)
            value = cache[key]
            if isinstance(value, dict):
                missing = [m.key for m in plan.metrics if m.key not in value]
                if missing:
                    raise KeyError(
                        f'row {row.name!r} ({row.config}), split {split!r}: '
                        f'the evaluator produces {sorted(value)}, not '
                        f'{missing} named in the spec (gate metric '
                        f'{plan.gate_metric.key!r})')
                value = value[plan.gate_metric.key]
            scores[row.name][split] = float(value) * plan.gate_metric.scale
    return scores


# ------------------------------------------------------------------ the runs


def _check_metrics(plan: Plan, metrics: dict, row: Row, split: str,
                   out_dir: str):
    missing = [m.key for m in plan.metrics if m.key not in metrics]
    if missing:
        raise KeyError(
            f'row {row.name!r} ({row.config}), split {split!r}: the '
            f'evaluator produced {sorted(metrics)}, not {missing} named in '
            f'the spec\'s metrics (stopped before the next training; a '
            f'stale {osp.join(out_dir, "test_metrics.json")} is '
            'deleted to test again)')


def _steps(plan: Plan) -> List[Tuple[Row, Optional[int]]]:
    """Every run in order: the rows trained once, then per seed (reported
    seeds, then tuning seeds) each row, dependencies first. With ``--runs``,
    those runs in their order, each after the runs whose checkpoints it
    needs."""
    if plan.only is not None:
        steps = []

        def add(row, seed):
            source = _source(row)
            if source is not None:
                add(plan.row(source), _source_seed(plan, row, seed))
            if (row, seed) not in steps:
                steps.append((row, seed))

        for name, seed in plan.only:
            add(plan.row(name), seed)
        return steps
    per_seed = [r for r in plan.order if plan.per_seed(r)]
    once = [r for r in plan.order if not plan.per_seed(r)]
    seeds = plan.seeds + list(plan.spec.tuning_seeds)
    return [(row, None) for row in once] + [(row, seed) for seed in seeds
                                            for row in per_seed]


def _source(row: Row) -> Optional[str]:
    """The row whose checkpoint ``row`` needs: its teacher's, or, for a
    test-only row, the checkpoint it tests."""
    return row.checkpoint if row.test_only else row.teacher


def _source_seed(plan: Plan, row: Row, seed: Optional[int]):
    return seed if plan.per_seed(plan.row(_source(row))) else None


def _local_checkpoint(plan: Plan, row: Row, seed: Optional[int],
                      options: List[str]) -> Optional[str]:
    """The finished checkpoint of a trained row in the work dir (or given
    by ``--ckpt``), if there is one."""
    if row.name in plan.ckpts:
        return plan.ckpts[row.name]
    ckpt = osp.join(
        plan.run_dir(row, seed), tool_runs.final_checkpoint(
            row.config, options))
    return ckpt if osp.isfile(ckpt) else None


def _record_inputs(plan: Plan, row: Row, seed: Optional[int],
                   options: List[str], source_sha256: Optional[str]):
    """A run's training inputs and per-split test inputs as its record
    holds them (``options`` without the teacher's path)."""
    if row.test_only:
        train = dict(test_only_of=row.checkpoint, weights_sha256=source_sha256)
    else:
        train = benchmark_records.train_inputs(
            row.config, plan.spec.fixed_seed if seed is None else seed,
            options, source_sha256)
    tests = {
        split: benchmark_records.test_inputs(
            row.config, options + plan.spec.splits[split].options)
        for split in plan.splits
    } if row.report else {}
    return train, tests


def _data_digests(plan: Plan) -> Dict[str, str]:
    """``{path: data_digest}`` of the files the prepare steps of the splits
    run make: a record counts only with the same data."""
    return {
        path: benchmark_records.data_digest(osp.join(tool_runs.ROOT, path))
        for split in plan.splits for path, _ in plan.spec.splits[split].prepare
        if osp.isfile(osp.join(tool_runs.ROOT, path))
    }


def _own_data_seeds(plan: Plan, steps, data: Dict[str, str]) -> dict:
    """The seeds of ``steps`` whose runs count from their records with
    their own copy of the spec's ``per_seed_data`` (see
    :class:`BenchmarkSpec`): ``{seed: ({row name: record}, {row name:
    weights digest}, {path: digest of its copy})}``.

    A seed qualifies when every per-seed row of the spec has a record for
    it and no finished checkpoint here, each record made from the same
    inputs (a teacher's weights as the seed's own teacher record has them)
    with every data file but the ``per_seed_data`` ones as ``data`` has
    it, and all of them with one copy of those, other than this
    machine's."""
    spec, book = plan.spec, plan.records
    paths = [p for p in spec.per_seed_data if p in data]
    if book is None or not paths:
        return {}
    rows = {r.name: r for r in spec.rows}
    per_seed = [
        r for r in _dependency_order(rows, list(rows)) if plan.per_seed(r)
    ]
    if any(_source(r) is not None and not plan.per_seed(rows[_source(r)])
           for r in per_seed):
        return {}  # a teacher trained once is this machine's
    shared = {p: d for p, d in data.items() if p not in paths}
    groups = {}
    for seed in dict.fromkeys(s for _, s in steps if s is not None):
        records, digests = {}, {}
        for row in per_seed:
            options = row.options + plan.cfg_options
            record = book.load(row.name, seed)
            if record is None or (not row.test_only and _local_checkpoint(
                    plan, row, seed, options)):
                break
            source = _source(row)
            source_sha = digests.get(source) if source else None
            if book.mismatch(
                    record, *_record_inputs(plan, row, seed, options,
                                            source_sha), shared):
                break
            records[row.name] = record
            digests[row.name] = (
                source_sha if row.test_only else record['weights_sha256'])
        else:
            copies = [{p: r.get('data', {}).get(p)
                       for p in paths} for r in records.values()]
            own = copies[0]
            if all(c == own for c in copies) and \
                    own != {p: data[p] for p in paths}:
                groups[seed] = (records, digests, own)
    return groups


def _plan_records(plan: Plan, steps) -> Tuple[dict, dict, dict]:
    """``{(row name, seed): record}`` of the runs whose numbers come from
    their records: no finished checkpoint in the work dir, a record made
    from the same inputs (a teacher's weights as its local checkpoint or
    its record has them), and no run still to train or test needs their
    checkpoint; and ``{(row name, seed): weights digest}`` expected of
    every run that has a checkpoint here or a usable record (a run trained
    again is expected to come out as recorded); and the seeds of
    :func:`_own_data_seeds`."""
    book = plan.records
    if book is None:
        return {}, {}, {}
    data = _data_digests(plan)
    groups = _own_data_seeds(plan, steps, data)
    for seed, (records, _, own) in groups.items():
        made = next(iter(records.values())).get('made', {})
        print(f'seed {seed}: its {len(records)} records count together, '
              f'made with their own {", ".join(sorted(own))} (on '
              f'{benchmark_records.describe_machine(made.get("machine"))}),'
              ' not with this machine\'s', flush=True)
    digests, usable, local = {}, {}, set()
    for row, seed in steps:
        key = (row.name, seed)
        if seed in groups:
            usable[key] = groups[seed][0][row.name]
            digests[key] = groups[seed][1][row.name]
            continue
        options = row.options + plan.cfg_options
        source = _source(row)
        source_sha = None
        if source is not None:
            source_sha = digests.get((source, _source_seed(plan, row, seed)))
        ckpt = None if row.test_only else _local_checkpoint(
            plan, row, seed, options)
        if ckpt is not None:
            local.add(key)
            digests[key] = benchmark_records.digest_of(ckpt)
            continue
        if source is not None and source_sha is None:
            continue  # its teacher / checkpoint is trained anew
        record = book.load(row.name, seed)
        if record is None:
            continue
        why = book.mismatch(
            record, *_record_inputs(plan, row, seed, options, source_sha),
            data)
        if why is None:
            usable[key] = record
            digests[key] = (
                source_sha if row.test_only else record['weights_sha256'])
        else:
            print(f'record {osp.relpath(book.path(row.name, seed))} not '
                  f'used: {why}', flush=True)
    # a run to train or test needs its source's checkpoint, and so on up
    for row, seed in reversed(steps):
        key = (row.name, seed)
        source = _source(row)
        if key in local or key in usable or source is None:
            continue
        usable.pop((source, _source_seed(plan, row, seed)), None)
    return usable, digests, {seed: own for seed, (_, _, own) in groups.items()}


def _train_and_test(plan: Plan, row: Row, seed: Optional[int],
                    options: List[str], teacher_option: List[str],
                    source_run: Optional[dict], data: Dict[str, str],
                    dry_run: bool) -> dict:
    """Train a run (unless finished) and test it on every split (unless
    tested), record it with ``--records``; return the run (see
    :func:`execute`)."""
    book = plan.records
    run_dir = plan.run_dir(row, seed)
    curve_keys = [plan.curve_metric.key
                  ] + ([plan.spec.loss_key] if plan.spec.loss_key else [])
    if row.test_only:
        ckpt = source_run['ckpt']
    elif row.name in plan.ckpts:
        ckpt = plan.ckpts[row.name]
    elif dry_run:
        ckpt = osp.join(run_dir,
                        tool_runs.final_checkpoint(row.config, options))
        done = 'reuse' if osp.isfile(ckpt) else 'train'
        print(f'{done} {row.name} (seed '
              f'{plan.spec.fixed_seed if seed is None else seed}): '
              f'{row.config} -> {ckpt}')
    else:
        env = None
        final = osp.join(run_dir,
                         tool_runs.final_checkpoint(row.config, options))
        if book is not None and not osp.isfile(final):
            # trained again for a run still to do: as its record was made
            env = benchmark_records.reproducing_env(
                book.load(row.name, seed),
                _record_inputs(plan, row, seed, options, source_run
                               and source_run['sha256'])[0])
            if env:
                print(f'{row.name}: OMP_NUM_THREADS={env["OMP_NUM_THREADS"]}'
                      ' as in its record', flush=True)
        ckpt = tool_runs.train(
            row.config, run_dir,
            plan.spec.fixed_seed if seed is None else seed,
            options + teacher_option, env)
    sha256 = None
    if book is not None and not dry_run:
        sha256 = benchmark_records.digest_of(ckpt)
    run = dict(
        ckpt=ckpt, sha256=sha256, splits={}, curves={}, record=None)
    if not row.test_only and not dry_run:
        run['curves'] = {
            key: tool_runs.read_curve(run_dir, key)
            for key in curve_keys
        }
    if not row.report:
        return run
    for split in plan.splits:
        out_dir = plan.test_dir(row, seed, split)
        if dry_run:
            print(f'  test on {split}: {out_dir}')
            continue
        metrics = tool_runs.test(
            row.config, ckpt, out_dir, options + teacher_option +
            plan.spec.splits[split].options)
        _check_metrics(plan, metrics, row, split, out_dir)
        run['splits'][split] = metrics
    # a checkpoint given by --ckpt was not trained from the inputs
    if book is not None and not dry_run and row.name not in plan.ckpts:
        train, tests = _record_inputs(
            plan, row, seed, options,
            source_run and source_run['sha256'])
        path = book.save(
            row.name, seed, train, sha256, {
                split: (tests[split], run['splits'][split])
                for split in plan.splits
            }, run['curves'], data,
            None if row.test_only else tool_runs.read_threads(run_dir))
        print(f'  recorded: {osp.relpath(path, tool_runs.ROOT)}')
    return run


def execute(plan: Plan, dry_run: bool = False, jobs: int = 1) -> dict:
    """Train and test every run; return ``{row: {seed: run}}`` with a run
    ``dict(ckpt=..., sha256=..., splits={split: metrics}, curves=...,
    record=...)`` (seed None: a row's one run; ``ckpt`` None and
    ``record`` the record's path when its numbers come from its record,
    see ``benchmark_records``). A checkpoint is tested right after its
    training, so a metric the evaluator does not produce stops the
    benchmark before the next training.

    ``jobs``: how many runs train (and are tested) at once; a run starts
    once the run whose checkpoint it needs (its teacher, the checkpoint a
    test-only row tests) is done, in the order of :func:`_steps` (with 1,
    one after another in that order). A failed run lets the running ones
    finish, starts no other and is raised.
    """
    runs = {row.name: {} for row in plan.order}
    steps = _steps(plan)
    recorded, expected, own_data = _plan_records(plan, steps)
    book = plan.records
    data = _data_digests(plan) if book is not None else {}

    def start(row, seed):
        """The run of a step from its record, else a function that trains
        and tests it."""
        options = row.options + plan.cfg_options
        source = _source(row)
        source_run = None
        if source is not None:
            source_run = runs[source][_source_seed(plan, row, seed)]
        teacher_option = []
        if row.teacher is not None:
            # a teacher taken from its record has no checkpoint here: its
            # run's path keeps the student's cached tests' inputs
            teacher = plan.row(row.teacher)
            teacher_ckpt = source_run['ckpt'] or osp.join(
                plan.run_dir(teacher, _source_seed(plan, row, seed)),
                tool_runs.final_checkpoint(
                    teacher.config, teacher.options + plan.cfg_options))
            teacher_option = [f'{row.teacher_key}={teacher_ckpt}']
        record = recorded.get((row.name, seed))
        if record is not None:
            # the source may have been trained again with other weights
            record = book.usable(
                row.name, seed,
                *_record_inputs(plan, row, seed, options, source_run
                                and source_run['sha256']),
                {p: d for p, d in data.items() if p not in own_data[seed]}
                if seed in own_data else data)
        if record is not None:
            path = book.path(row.name, seed)
            if dry_run:
                print(f'record {row.name} (seed '
                      f'{plan.spec.fixed_seed if seed is None else seed}): '
                      f'{path} ({record["made"]["date"]})')
            return dict(
                ckpt=None,
                sha256=(source_run['sha256']
                        if row.test_only else record['weights_sha256']),
                splits={
                    split: record['tests'][split]['metrics']
                    for split in plan.splits
                } if row.report else {},
                curves=benchmark_records.record_curves(record),
                record=osp.relpath(path, tool_runs.ROOT),
                made=record['made'],
                own_data=own_data.get(seed))

        def work():
            # another harness process on this work dir may be running it
            with (contextlib.nullcontext() if dry_run else
                  tool_runs.RunLock(plan.run_dir(row, seed))):
                return _train_and_test(plan, row, seed, options,
                                       teacher_option, source_run, data,
                                       dry_run)

        return work

    def ready(row, seed):
        source = _source(row)
        return source is None or \
            _source_seed(plan, row, seed) in runs[source]

    pending, running, failure = list(steps), {}, None
    with concurrent.futures.ThreadPoolExecutor(max(1, jobs)) as pool:
        while (pending and failure is None) or running:
            for row, seed in list(pending):
                if failure is not None or len(running) >= max(1, jobs):
                    break
                if not ready(row, seed):
                    continue
                pending.remove((row, seed))
                run = start(row, seed)
                if isinstance(run, dict):
                    runs[row.name][seed] = run
                elif jobs <= 1 or dry_run:
                    runs[row.name][seed] = run()
                    if dry_run:  # as if trained again as recorded
                        runs[row.name][seed]['sha256'] = expected.get(
                            (row.name, seed))
                else:
                    running[pool.submit(run)] = (row, seed)
            if not running:
                if pending and failure is None and not any(
                        ready(*step) for step in pending):
                    raise RuntimeError('benchmark runs wait on each other: '
                                       f'{[(r.name, s) for r, s in pending]}')
                continue
            done, _ = concurrent.futures.wait(
                running, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                row, seed = running.pop(future)
                try:
                    runs[row.name][seed] = future.result()
                except Exception as e:  # noqa: B902 (raised below)
                    failure = failure or e
    if failure is not None:
        raise failure
    return runs


# --------------------------------------------------------------- the numbers


def _mean_std(values: list):
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    var = sum((v - mean)**2 for v in values) / (len(values) - 1)
    return mean, math.sqrt(var)


def _values(plan: Plan, runs: dict, row: Row, split: str, metric: Metric,
            seeds: list) -> Dict[int, float]:
    """``{seed: display value}``; a row run once: ``{fixed_seed: value}``."""
    if not plan.per_seed(row):
        run = runs[row.name][None]
        return {
            plan.spec.fixed_seed:
            run['splits'][split][metric.key] * metric.scale
        }
    return {
        seed: runs[row.name][seed]['splits'][split][metric.key] * metric.scale
        for seed in seeds
    }


def _gate(plan: Plan, runs: dict, trivial: dict) -> dict:
    """Per gated row: passed and the failing (seed, split) values."""
    result = {}
    for row in plan.rows:
        if not row.gate:
            continue
        failures = []
        for split in plan.splits:
            threshold = trivial[row.name][split] + plan.spec.gate.margin
            values = _values(plan, runs, row, split, plan.gate_metric,
                             plan.seeds)
            failures += [
                dict(seed=seed, split=split, value=v, threshold=threshold)
                for seed, v in values.items() if not v > threshold
            ]
        result[row.name] = dict(
            passed=not failures,
            trivial=trivial[row.name],
            margin=plan.spec.gate.margin,
            failures=failures)
    return result


def _delta(plan: Plan, runs: dict, row: Row, base: Row, split: str,
           metric: Metric, gate: dict) -> dict:
    """Paired per-seed deltas ``row - base`` (a row's baseline or a
    comparison's reference): their mean, std, sign counts and verdict,
    meaningful unless one of the two is a gated row that failed."""
    seeds = plan.seeds if plan.per_seed(row) or plan.per_seed(base) else [
        plan.spec.fixed_seed
    ]
    mine = _values(plan, runs, row, split, metric, plan.seeds)
    theirs = _values(plan, runs, base, split, metric, plan.seeds)

    def at(values, seed):
        # a row run once gives its one value to every seed
        return values[seed] if seed in values else next(iter(values.values()))

    per_seed = {seed: at(mine, seed) - at(theirs, seed) for seed in seeds}
    deltas = list(per_seed.values())
    mean, std = _mean_std(deltas)
    spreads = [_mean_std(list(v.values()))[1] for v in (mine, theirs)]
    tol = max([s for s in spreads if s is not None], default=0.0)
    verdict = 'tie' if abs(mean) <= tol else ('up' if mean > 0 else 'down')
    failed = [
        r.name for r in (row, base)
        if r.name in gate and not gate[r.name]['passed']
    ]
    tuning = {}
    if plan.per_seed(row) and plan.spec.tuning_seeds:
        mine_t = _values(plan, runs, row, split, metric,
                         plan.spec.tuning_seeds)
        theirs_t = (
            _values(plan, runs, base, split, metric, plan.spec.tuning_seeds)
            if plan.per_seed(base) else theirs)
        tuning = {
            seed: mine_t[seed] - at(theirs_t, seed)
            for seed in plan.spec.tuning_seeds
        }
    return dict(
        per_seed=per_seed,
        mean=mean,
        std=std,
        up=sum(d > 0 for d in deltas),
        down=sum(d < 0 for d in deltas),
        n=len(deltas),
        tie_tolerance=tol,
        verdict=verdict,
        meaningful=not failed,
        failed_gate=failed,
        tuning=tuning)


def summarise(plan: Plan, runs: dict, trivial: dict) -> dict:
    """The benchmark's numbers (``benchmark.json``'s ``rows``, ``gate``,
    ``comparisons``)."""
    gate = _gate(plan, runs, trivial)
    rows = {}
    for row in plan.rows:
        if not row.report:
            continue
        results = {}
        for split in plan.splits:
            results[split] = {}
            for metric in plan.metrics:
                values = _values(plan, runs, row, split, metric, plan.seeds)
                mean, std = _mean_std(list(values.values()))
                entry = dict(
                    per_seed=values, mean=mean, std=std, n=len(values))
                if plan.per_seed(row) and plan.spec.tuning_seeds:
                    entry['tuning'] = _values(plan, runs, row, split, metric,
                                              plan.spec.tuning_seeds)
                if row.baseline is not None:
                    entry['delta'] = dict(
                        baseline=row.baseline,
                        **_delta(plan, runs, row, plan.row(row.baseline),
                                 split, metric, gate))
                results[split][metric.key] = entry
        rows[row.name] = dict(
            label=row.label,
            config=row.config,
            options=row.options,
            per_seed=plan.per_seed(row),
            teacher=row.teacher,
            baseline=row.baseline,
            test_only=row.test_only,
            checkpoints={
                'once' if seed is None else str(seed): run['ckpt']
                for seed, run in runs[row.name].items()
            },
            # the runs whose numbers come from records, not from this run
            records={
                'once' if seed is None else str(seed):
                dict(path=run['record'], own_data=run['own_data'],
                     **run['made'])
                for seed, run in runs[row.name].items() if run.get('record')
            },
            gate=gate.get(row.name),
            results=results)
    comparisons = {
        split: [
            dict(
                row=name,
                reference=ref,
                results={
                    metric.key:
                    _delta(plan, runs, plan.row(name), plan.row(ref), split,
                           metric, gate)
                    for metric in plan.metrics
                }) for name, ref in plan.comparisons
        ]
        for split in plan.splits
    }
    return dict(gate=gate, rows=rows, comparisons=comparisons)


# --------------------------------------------------------------------- main


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'spec',
        help='a spec name (tools/analysis_tools/benchmarks/'
        '<name>.py) or a path to a spec file')
    parser.add_argument(
        '--seeds',
        type=int,
        nargs='*',
        help='reported seeds (default: the '
        'spec\'s)')
    parser.add_argument(
        '--work-dir', help='default: work_dirs/benchmark_<spec>')
    parser.add_argument(
        '--rows',
        nargs='+',
        help='only these rows (with their teachers, '
        'checkpoints, baselines and comparisons\' references)')
    parser.add_argument(
        '--runs',
        nargs='+',
        metavar='ROW:SEED',
        help='train, test (and record) only these runs, in this order, '
        'each after the runs whose checkpoints it needs (ROW alone for a '
        'row trained once); no table is written: e.g. to finish a long '
        'CPU benchmark in pieces, the short runs first or one process per '
        'run')
    parser.add_argument('--splits', nargs='+', help='only these test splits')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        default=[],
        help='key=value overrides of '
        'every train and test run')
    parser.add_argument(
        '--ckpt',
        nargs='+',
        default=[],
        metavar='ROW=PATH',
        help='use this checkpoint for a row trained once instead of '
        'training it')
    parser.add_argument(
        '--records',
        nargs='?',
        const='',
        metavar='DIR',
        help='record every finished run in DIR (default: '
        'docs/benchmark_records/<spec>) and take the numbers of a run '
        'without a checkpoint here from its record when its inputs match '
        '(see benchmark_records.py)')
    parser.add_argument(
        '--jobs',
        type=int,
        default=1,
        help='train (and test) this many runs at once, each as soon as the '
        'run whose checkpoint it needs is done (default 1); without '
        'OMP_NUM_THREADS set, each run gets cores / jobs threads')
    parser.add_argument(
        '--dry-run',
        action='store_true',
        help='check the spec and print '
        'the runs; train and test nothing')
    return parser.parse_args(argv)


def _report_runs(plan: Plan, runs: dict) -> dict:
    """Print the metrics of the ``--runs`` runs; return ``{'ROW[:SEED]':
    {split: {metric name: value}}}``."""
    done = {}
    for name, seed in plan.only:
        run = runs[name][seed]
        values = {
            split: {
                m.name: run['splits'][split][m.key] * m.scale
                for m in plan.metrics if m.key in run['splits'][split]
            }
            for split in run['splits']
        }
        label = name if seed is None else f'{name}:{seed}'
        done[label] = values
        where = f' (from {run["record"]})' if run.get('record') else ''
        print(f'{label}{where}: ' + '; '.join(
            f'{split} ' + ', '.join(f'{k} {v:.2f}' for k, v in vals.items())
            for split, vals in values.items()))
    print('only the runs of --runs were made: run without --runs for the '
          'table')
    return dict(runs=done)


def main(argv=None):
    """Run a benchmark; return ``benchmark.json``'s content (the plan's
    checks only, with ``--dry-run``)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    if args.jobs < 1:
        raise ValueError(f'--jobs must be at least 1, got {args.jobs}')
    plan = make_plan(args)
    prepare_splits(plan, dry_run=args.dry_run)
    trivial = trivial_scores(plan)
    for name, scores in trivial.items():
        print(f'gate: {name} must beat ' +
              ', '.join(f'{split} {v:.2f} + {plan.spec.gate.margin:g}'
                        for split, v in scores.items()))
    if args.dry_run:
        execute(plan, dry_run=True)
        return dict(rows=[r.name for r in plan.rows], trivial=trivial)
    if args.jobs > 1 and 'OMP_NUM_THREADS' not in os.environ:
        # each run's tools share the cores (a run's thread count is part of
        # what it computes: see benchmark_records)
        threads = max(1, (os.cpu_count() or 1) // args.jobs)
        os.environ['OMP_NUM_THREADS'] = str(threads)
        print(f'--jobs {args.jobs}: OMP_NUM_THREADS={threads} for every run')
    runs = execute(plan, jobs=args.jobs)
    if plan.only is not None:
        return _report_runs(plan, runs)
    result = dict(
        spec=plan.name,
        command=f'python {TOOL} {shlex.join(argv)}',
        seeds=plan.seeds,
        tuning_seeds=list(plan.spec.tuning_seeds),
        fixed_seed=plan.spec.fixed_seed,
        splits={
            s:
            dict(
                options=plan.spec.splits[s].options,
                label=plan.spec.splits[s].label)
            for s in plan.splits
        },
        cfg_options=plan.cfg_options,
        metrics=[
            dict(key=m.key, name=m.name, scale=m.scale) for m in plan.metrics
        ],
        **summarise(plan, runs, trivial))
    os.makedirs(plan.work_dir, exist_ok=True)
    with open(osp.join(plan.work_dir, 'benchmark.json'), 'w') as f:
        json.dump(result, f, indent=2)
    text = markdown(plan, result)
    with open(osp.join(plan.work_dir, 'benchmark.md'), 'w') as f:
        f.write(text)
    plot_curves(plan, runs, osp.join(plan.work_dir, 'curves.png'))
    print('\n' + text)
    print(f'written: {osp.join(plan.work_dir, "benchmark.{json,md}")}, '
          f'{osp.join(plan.work_dir, "curves.png")}')
    return result


if __name__ == '__main__':
    main()
