# Copyright (c) mmkd contributors. All rights reserved.
"""The reports of the benchmark harness (``benchmark.py``): ``benchmark.md``
(tables per split, paired deltas, comparisons, footnotes) and
``curves.png``. ``plan`` is the harness's ``Plan``, ``result`` what
``benchmark.summarise`` returns."""
from typing import List, Optional

from benchmark_records import describe_machine


def _fmt(value, signed=False):
    if value is None:
        return '-'
    return f'{value:+.2f}' if signed else f'{value:.2f}'


def _mean_std_cell(entry: dict, signed: bool = False) -> str:
    return _fmt(entry['mean'], signed) + ('' if entry['std'] is None else
                                          f' +- {entry["std"]:.2f}')


def _verdict_cell(delta: dict, names: Optional[dict] = None) -> str:
    """The verdict and, if not meaningful, which row failed the gate
    (``names`` renames rows, e.g. to ``'baseline'``)."""
    cell = f'**{delta["verdict"]}**'
    if not delta['meaningful']:
        failed = ' and '.join(
            (names or {}).get(n, n) for n in delta['failed_gate'])
        cell += f', not meaningful ({failed} FAILED the gate)'
    return cell


def _delta_cell(delta: dict, row: str) -> str:
    return (f'vs {delta["baseline"]}: {_mean_std_cell(delta, True)} '
            f'({delta["up"]}/{delta["n"]} up) ' +
            _verdict_cell(delta, {
                delta['baseline']: 'baseline',
                row: 'the row'
            }))


def _comparison_table(plan, result: dict, split: str) -> List[str]:
    """``benchmark.md``'s comparisons of a split, a line per pair."""
    labels = {name: row['label'] for name, row in result['rows'].items()}
    header = ['row vs reference']
    for metric in plan.metrics:
        header += [
            f'{metric.name} delta mean +- std',
            f'{metric.name} per-seed deltas', f'{metric.name} up/down',
            f'{metric.name} verdict'
        ]
    lines = [
        f'Comparisons ({split}; paired per seed, row - reference):', '',
        '| ' + ' | '.join(header) + ' |', '|---' * len(header) + '|'
    ]
    for comparison in result['comparisons'][split]:
        cells = [
            f'{labels[comparison["row"]]} vs '
            f'{labels[comparison["reference"]]}'
        ]
        for metric in plan.metrics:
            delta = comparison['results'][metric.key]
            cells += [
                _mean_std_cell(delta, True),
                ' / '.join(_fmt(v, True) for v in delta['per_seed'].values()),
                f'{delta["up"]}/{delta["down"]}',
                _verdict_cell(delta)
            ]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return lines + ['']


def markdown(plan, result: dict) -> str:
    """``benchmark.md``: a table per split, the command, seeds, the gate
    and footnotes."""
    spec = plan.spec
    lines = [f'# {spec.title or plan.name}', '']
    lines += [f'Command: `{result["command"]}`', '']
    tuning = ', '.join(map(str, spec.tuning_seeds))
    lines += [
        f'Seeds: {", ".join(map(str, plan.seeds))}' +
        (f'; tuning seeds {tuning} (shown apart, never in the means)' if tuning
         else '') + f'; rows trained once use seed {spec.fixed_seed}.', ''
    ]
    if result['gate']:
        gate = spec.gate
        lines.append(f'Gate: {plan.gate_metric.name} above the trivial '
                     f'predictor\'s score + {gate.margin:g} on every reported '
                     'seed and split:')
        for name, entry in result['gate'].items():
            trivial = ', '.join(f'{s} {v:.2f}'
                                for s, v in entry['trivial'].items())
            verdict = 'PASS' if entry['passed'] else 'FAILED'
            fails = '; '.join(
                f'seed {f["seed"]} {f["split"]}: {f["value"]:.2f} <= '
                f'{f["threshold"]:.2f}' for f in entry['failures'])
            lines.append(f'- {name}: **{verdict}** (trivial: {trivial})' +
                         (f': {fails}' if fails else ''))
        lines.append('')
    names = [m.name for m in plan.metrics]
    seeds = ' / '.join(map(str, plan.seeds))
    for split in plan.splits:
        label = spec.splits[split].label
        lines += [f'## {split}' + (f': {label}' if label else ''), '']
        header = ['row', 'gate']
        for name in names:
            header += [
                f'{name} seeds {seeds}', f'{name} mean +- std',
                f'{name} delta vs baseline'
            ]
        lines += ['| ' + ' | '.join(header) + ' |', '|---' * len(header) + '|']
        for row_name, row in result['rows'].items():
            label = row['label']
            if not row['per_seed']:
                label += f' (once, seed {spec.fixed_seed})'
            gate = row['gate']
            cells = [
                label, '-' if gate is None else
                ('PASS' if gate['passed'] else '**FAILED**')
            ]
            for metric in plan.metrics:
                entry = row['results'][split][metric.key]
                cells.append(' / '.join(
                    _fmt(v) for v in entry['per_seed'].values()))
                cells.append(_mean_std_cell(entry))
                delta = entry.get('delta')
                cells.append('' if delta is
                             None else _delta_cell(delta, row_name))
            lines.append('| ' + ' | '.join(cells) + ' |')
        lines.append('')
        if result['comparisons'][split]:
            lines += _comparison_table(plan, result, split)
        tuned = [(n, r) for n, r in result['rows'].items()
                 if 'tuning' in r['results'][split][plan.metrics[0].key]]
        if tuned:
            lines += [
                f'Tuning seeds {tuning} ({split}; not in the means):', ''
            ]
            header = ['row'] + [
                f'{m.name} seed {s}' for m in plan.metrics
                for s in spec.tuning_seeds
            ]
            lines += [
                '| ' + ' | '.join(header) + ' |', '|---' * len(header) + '|'
            ]
            for name, row in tuned:
                cells = [row['label']]
                for metric in plan.metrics:
                    entry = row['results'][split][metric.key]
                    delta = entry.get('delta', {}).get('tuning', {})
                    cells += [
                        _fmt(v) +
                        (f' ({_fmt(delta[s], True)})' if s in delta else '')
                        for s, v in entry['tuning'].items()
                    ]
                lines.append('| ' + ' | '.join(cells) + ' |')
            lines.append('')
    lines += [
        'Notes:',
        '',
        '- mean +- std over the reported seeds (std with ddof=1); a row '
        'trained once shows its one run.',
        '- delta: paired per-seed difference row - baseline (same seed; a '
        'baseline trained once gives its one value to every seed), its mean '
        '+- std and how many seeds went up. Verdict **tie** when |mean '
        'delta| <= the larger of the two rows\' seed std, else **up** / '
        '**down**.',
        '- gate: a gated row must beat the trivial predictor\'s score plus '
        'the margin on every reported seed and split, else it is FAILED; '
        'deltas of or against a FAILED row are not meaningful.',
    ]
    if plan.comparisons:
        lines.append('- comparisons: the same paired per-seed deltas and '
                     'verdict, row - reference; up/down: how many seeds went '
                     'up / down; their tuning seeds\' deltas are in '
                     'benchmark.json.')
    if spec.tuning_seeds:
        lines.append('- tuning seeds: settings were chosen on them; their '
                     'values (delta vs baseline in brackets) are never '
                     'pooled.')
    lines += [f'- {note}' for note in spec.notes]
    recorded = [(row['label'], seed, made)
                for row in result['rows'].values()
                for seed, made in row.get('records', {}).items()]
    if recorded:
        lines.append(
            f'- {len(recorded)} '
            f'{"run was" if len(recorded) == 1 else "runs were"} not trained '
            'by this command: their '
            'numbers are their records\' (same config, seed, overrides and '
            'teacher weights; `benchmark_records.py`): ' + '; '.join(
                f'{label} ' + ('' if seed == 'once' else f'seed {seed} ') +
                f'({made["date"]}, {made["commit"]})'
                for label, seed, made in recorded) + '.')
    own = {}
    for _, seed, made in recorded:
        if made.get('own_data'):
            own.setdefault(seed, (sorted(made['own_data']), made))
    for seed, (paths, made) in sorted(own.items()):
        lines.append(
            f'- seed {seed}\'s runs were made with their own '
            f'{", ".join(f"`{p}`" for p in paths)} (on '
            f'{describe_machine(made.get("machine"))}), not with this '
            'command\'s: its rows are paired with each other on that copy '
            '(`per_seed_data` of the spec).')
    return '\n'.join(lines) + '\n'


def _band(curves: List[dict]):
    """Mean, min and max over the curves at every x any of them has."""
    xs = sorted({x for curve in curves for x in curve})
    at = [[c[x] for c in curves if x in c] for x in xs]
    return (xs, [sum(v) / len(v)
                 for v in at], [min(v) for v in at], [max(v) for v in at])


def plot_curves(plan, runs: dict, path: str) -> None:
    """``curves.png``: per trained row, the curve metric (and the loss) over
    iterations, mean over the reported seeds with a min-max band."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    panels = [(plan.curve_metric.key, plan.curve_metric.scale,
               f'val {plan.curve_metric.name}')]
    if plan.spec.loss_key:
        panels.append(
            (plan.spec.loss_key, 1.0, f'training {plan.spec.loss_key}'))
    fig, axes = plt.subplots(
        1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    for ax, (key, scale, title) in zip(axes[0], panels):
        drawn = False
        for row in plan.rows:
            if row.test_only or not row.report or row.name in plan.ckpts:
                continue
            seeds = plan.seeds if plan.per_seed(row) else [None]
            curves = [{
                x: v * scale
                for x, v in runs[row.name][s]['curves'].get(key, {}).items()
            } for s in seeds]
            curves = [c for c in curves if c]
            if not curves:
                continue
            xs, mean, low, high = _band(curves)
            line, = ax.plot(
                xs,
                mean,
                'o-' if key == plan.curve_metric.key else '-',
                ms=3,
                label=row.label)
            ax.fill_between(xs, low, high, color=line.get_color(), alpha=0.2)
            drawn = True
        ax.set(xlabel='iteration', title=title)
        ax.grid(alpha=0.3)
        if drawn:
            ax.legend()
            if key != plan.curve_metric.key and ax.get_ylim()[0] > 0:
                ax.set_yscale('log')  # a loss, over decades
        else:
            ax.text(
                0.5,
                0.5,
                f'no {key} in the runs\' scalars.json',
                ha='center',
                transform=ax.transAxes)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
