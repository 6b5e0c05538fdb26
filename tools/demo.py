# Copyright (c) mmkd contributors. All rights reserved.
"""The mmkd demo: teacher, student and distilled student on DigitScenes.

On the 256 px DigitScenes setting of docs/methods/bpkd.md it trains a
teacher (FCN R50 width 16) and a student baseline (FCN R18 width 16) side
by side, distils the teacher into the student with BPKD (boundary-
privileged distillation of the decode-head logits), evaluates the three
with mmseg's IoU and mmkd's Boundary IoU (``mmkd.BoundaryIoUMetric``) and
prints a table;
the training cross-entropy and val mIoU curves go to
``<work-dir>/curves.png``. Each step runs the user-facing tools
(``tools/train.py``, ``tools/test.py``) in a subprocess, so the demo
exercises exactly what a user runs. A finished step is reused on a second
run.

Example:
    python tools/demo.py          # 26 min on 2 cores, see README
    python tools/demo.py --seed 1 --work-dir work_dirs/demo_seed1
"""
import argparse
import json
import os.path as osp
import sys
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)),
                            'analysis_tools'))
# the subprocess runners of tools/train.py and tools/test.py, shared with
# the benchmark harness (tools/analysis_tools/benchmark.py)
from tool_runs import read_curve, test, train  # noqa: E402

# the 256 px DigitScenes setting of docs/methods/bpkd.md
TEACHER = 'configs/digit_scenes/fcn_r50-w16_2k_digit-scenes256-128x128.py'
STUDENT = 'configs/digit_scenes/fcn_r18-w16_2k_digit-scenes256-128x128.py'
DISTILL = ('configs/bpkd/'
           'bpkd_fcn-r50w16_fcn-r18w16_2k_digit-scenes256-128x128.py')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--teacher-config', default=TEACHER)
    parser.add_argument('--student-config', default=STUDENT)
    parser.add_argument('--distill-config', default=DISTILL)
    parser.add_argument(
        '--work-dir',
        default='work_dirs/demo',
        help='one sub-folder per model is written here')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--teacher-ckpt',
        help='use this teacher checkpoint instead of training one')
    parser.add_argument(
        '--no-side-by-side',
        dest='side_by_side',
        action='store_false',
        help='train the teacher and the student baseline one after the '
        'other (by default they train at once, one thread each)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        default=[],
        help='extra key=value overrides for all three runs')
    return parser.parse_args(argv)


def read_curves(work_dir):
    """Training CE loss and val mIoU per iteration from mmengine's scalars.

    The CE loss is the task loss, comparable with and without distillation.
    """
    return (read_curve(work_dir, 'decode.loss_ce'),
            read_curve(work_dir, 'mIoU'))


def plot(curves, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, (ax_loss, ax_miou) = plt.subplots(1, 2, figsize=(11, 4))
    for name, (loss, miou) in curves.items():
        ax_loss.plot(list(loss), list(loss.values()), label=name)
        ax_miou.plot(list(miou), list(miou.values()), 'o-', label=name)
    ax_loss.set(xlabel='iteration', ylabel='decode.loss_ce',
                yscale='log', title='training cross-entropy (task loss)')
    ax_miou.set(xlabel='iteration', ylabel='val mIoU (%)',
                title='DigitScenes val mIoU')
    for ax in (ax_loss, ax_miou):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run_demo(args):
    """Train, evaluate and compare; return ``{name: metrics}``."""
    work_dir = osp.abspath(args.work_dir)
    options = list(args.cfg_options)
    dirs = {
        name: osp.join(work_dir, name)
        for name in ('teacher', 'student', 'distilled')
    }
    # the teacher and the student baseline are independent: on a CPU
    # machine they train side by side, one thread each (the benchmark's
    # runs use one thread too), which saves the baseline's time
    side_by_side = args.teacher_ckpt is None and args.side_by_side
    env = dict(OMP_NUM_THREADS='1') if side_by_side else None
    with ThreadPoolExecutor(2 if side_by_side else 1) as pool:
        teacher_run = None if args.teacher_ckpt else pool.submit(
            train, args.teacher_config, dirs['teacher'], args.seed, options,
            env)
        student_run = pool.submit(train, args.student_config,
                                  dirs['student'], args.seed, options, env)
        student_ckpt = student_run.result()
        teacher_ckpt = (teacher_run.result() if teacher_run else osp.abspath(
            args.teacher_ckpt))
    distill_ckpt = train(args.distill_config, dirs['distilled'], args.seed,
                         options + [f'model.teacher_ckpt={teacher_ckpt}'])
    results = {
        'teacher':
        test(args.teacher_config, teacher_ckpt, dirs['teacher'], options),
        'student':
        test(args.student_config, student_ckpt, dirs['student'], options),
        'distilled':
        test(args.distill_config, distill_ckpt, dirs['distilled'],
             options + [f'model.teacher_ckpt={teacher_ckpt}']),
    }
    curves = {
        name: read_curves(d)
        for name, d in dirs.items() if osp.isdir(d) and name in results
        and (name != 'teacher' or not args.teacher_ckpt)
    }
    plot(curves, osp.join(work_dir, 'curves.png'))
    with open(osp.join(work_dir, 'results.json'), 'w') as f:
        json.dump(results, f, indent=2)
    return results


def main(argv=None):
    args = parse_args(argv)
    results = run_demo(args)
    print(f'\nDigitScenes val (seed {args.seed}), mmseg IoU and mmkd '
          'Boundary IoU (2 px):')
    print(f'{"model":<30}{"mIoU":>8}{"mBIoU":>8}{"aAcc":>8}')
    labels = dict(
        teacher='teacher (R50 w16)',
        student='student (R18 w16)',
        distilled='distilled student (BPKD)')
    if args.distill_config != DISTILL:
        labels['distilled'] = 'distilled student'
    for name, metrics in results.items():
        print(f'{labels[name]:<30}{metrics["mIoU"]:>8.2f}'
              f'{metrics["mBIoU"]:>8.2f}{metrics["aAcc"]:>8.2f}')
    print(f'curves: {osp.join(osp.abspath(args.work_dir), "curves.png")}')


if __name__ == '__main__':
    main()
