"""Why BPKD (the references' formula) trails CWD on 256 px DigitScenes: the
body term alone, and mmkd's class-mean reduction alone.

The rows of ``bpkd_digit-scenes`` (same configs, seeds 1 and 2, same
teacher) plus two variants of the references' BPKD: the body term alone
(lambda_E = 0), and the edge term averaged over the (sample, class) pairs
with an edge instead of summed over classes (``class_reduction='mean'``,
the one mmkd option that changes the edge term's scale). Results: docs/methods/bpkd.md.

    python tools/analysis_tools/benchmark.py bpkd_digit-scenes_ablation

Its teacher, student, CWD and BPKD runs are those of ``bpkd_digit-scenes``
(seeds 1, 2): link them into this work dir to reuse them.
"""
import dataclasses

from benchmark import Row, load_spec

_, _, MAIN = load_spec('bpkd_digit-scenes')
BPKD = next(row.config for row in MAIN.rows if row.name == 'bpkd')

SPEC = dataclasses.replace(
    MAIN,
    title='DigitScenes: the terms of BPKD (references\' formula) ablated',
    rows=MAIN.rows + [
        Row('bpkd_body-only',
            BPKD,
            options=['model.losses.edge.loss_weight=0.0'],
            teacher='teacher',
            baseline='student',
            label='BPKD, body term alone (lambda_E = 0)'),
        Row('bpkd_class-mean',
            BPKD,
            options=['model.losses.edge.class_reduction=mean'],
            teacher='teacher',
            baseline='student',
            label='BPKD, edge term averaged over classes'),
    ],
    seeds=[1, 2],
    comparisons=[('bpkd_body-only', 'bpkd'), ('bpkd_class-mean', 'bpkd'),
                 ('bpkd', 'cwd')],
    default_rows=None)
