# Copyright (c) mmkd contributors. All rights reserved.
"""Tuning X-Ray's loss weights on SimScenes: one weight at a time.

The rows of ``xray_simscenes`` that the choice needs (the Object-Complete
teacher, the baseline, X-Ray at the untuned weights: feature 1, heat-map
10, regression 0.05) plus X-Ray with each weight at 0.3 and 3 times its
value, the others unchanged, on training seed 100 and SimScenes val only:
the reported seeds (1-3) and the held-out root are never used to choose.
The protocol: docs/methods/xray.md.

    python tools/analysis_tools/benchmark.py xray_simscenes_tuning \\
        --ckpt teacher=work_dirs/benchmark_xray_simscenes/teacher/epoch_20.pth
"""
import dataclasses

from benchmark import Row, load_spec

_, _, MAIN = load_spec('xray_simscenes')
XRAY = next(row for row in MAIN.rows if row.name == 'xray')
# the untuned weights of configs/_base_/distill/xray_centerpoint.py
GUESSES = dict(feature=1.0, heatmap=10.0, regression=0.05)
FACTORS = (0.3, 3)


def weight_rows() -> list:
    """X-Ray with one loss weight scaled, per term and factor."""
    rows = []
    for term, guess in GUESSES.items():
        for factor in FACTORS:
            weight = float(f'{guess * factor:.3g}')
            rows.append(
                Row(f'xray_{term}-{weight:g}',
                    XRAY.config,
                    options=[f'model.losses.{term}.loss_weight={weight:g}'],
                    teacher='teacher',
                    baseline='baseline',
                    label=f'X-Ray, {term} weight {weight:g} '
                    f'(not {guess:g})'))
    return rows


SPEC = dataclasses.replace(
    MAIN,
    title='X-Ray on SimScenes: loss weights, one at a time (tuning seed)',
    rows=[
        row for row in MAIN.rows
        if row.name in ('teacher', 'baseline', 'xray')
    ] + weight_rows(),
    seeds=[100],
    splits={'val': MAIN.splits['val']},
    comparisons=[(row.name, 'xray') for row in weight_rows()],
    default_rows=None,
    notes=MAIN.notes + [
        'Tuning runs (seed 100, val): choose on these, report on '
        'xray_simscenes (seeds 1-3, val and held out).'
    ])
