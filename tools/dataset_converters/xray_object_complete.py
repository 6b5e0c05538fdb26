# Copyright (c) mmkd contributors. All rights reserved.
"""Write X-Ray's Object-Complete keyframes and the teacher's and student's
info files (``<stem>_xray-teacher.pkl``, ``<stem>_xray-student.pkl``).

The teacher's infos point at ``ROOT/samples/LIDAR_TOP_PATCHED`` (so that
mmdet3d's unmodified ``NuScenesDataset`` trains the teacher on them); the
student's infos are the input's plus ``lidar_points.lidar_path_teacher``.
The input infos are not changed. Poses and boxes come from the infos
(mmdet3d v2, with the track fields of tools/dataset_converters/
sim_scenes.py).

Examples:
    python tools/dataset_converters/xray_object_complete.py data/simscenes
    python tools/dataset_converters/xray_object_complete.py data/nuscenes \\
        --info-prefix nuscenes --window 5 --exclude-classes pedestrian
"""
import argparse
import os.path as osp
import time

from mmkd.methods.xray.checks import check_infos
from mmkd.methods.xray.object_complete import (COUNT_ATOL, COUNT_RTOL,
                                               LIDAR_FOLDER, PATCHED_FOLDER,
                                               make_object_complete)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('root', help='the dataroot')
    parser.add_argument(
        '--infos', nargs='+', metavar='INFO_FILE',
        help='info files (default: ROOT/<info-prefix>_infos_{train,val}.pkl)')
    parser.add_argument('--info-prefix', default='simscenes')
    parser.add_argument(
        '--window', type=int, metavar='K',
        help='gather each object from the keyframes at most K keyframes '
        'away (default: all keyframes of the scene)')
    parser.add_argument('--exclude-classes', nargs='+', default=[],
                        metavar='CLASS',
                        help='classes left as they are (e.g. pedestrian: '
                        'not rigid)')
    parser.add_argument(
        '--count-atol', type=float, default=COUNT_ATOL,
        help='in-box points may differ from num_lidar_pts by '
        'max(ATOL, RTOL * num_lidar_pts)')
    parser.add_argument('--count-rtol', type=float, default=COUNT_RTOL)
    parser.add_argument('--no-count-check', action='store_true',
                        help='do not check the in-box points against '
                        'num_lidar_pts')
    parser.add_argument('--lidar-folder', default=LIDAR_FOLDER)
    parser.add_argument('--patched-folder', default=PATCHED_FOLDER)
    args = parser.parse_args(argv)
    if args.window is not None and args.window < 0:
        parser.error(f'--window must be >= 0, got {args.window}')
    return args


def main(argv=None):
    args = parse_args(argv)
    start = time.time()
    infos = args.infos or [
        osp.join(args.root, f'{args.info_prefix}_infos_{split}.pkl')
        for split in ('train', 'val')
    ]
    missing = [f for f in infos if not osp.isfile(f)]
    if missing:
        raise FileNotFoundError(f'info files {missing} not found')
    tolerance = None if args.no_count_check else (args.count_atol,
                                                   args.count_rtol)
    total = 0
    for info_file in infos:
        stats = make_object_complete(
            info_file, args.root, window=args.window,
            exclude_classes=args.exclude_classes, count_tolerance=tolerance,
            lidar_folder=args.lidar_folder,
            patched_folder=args.patched_folder)
        for out in (stats['teacher_file'], stats['student_file']):
            check_infos(out, args.root)
        total += stats['bytes']
        print(f'{info_file}: {stats["frames"]} keyframes, '
              f'{stats["instances"]} objects completed, '
              f'{stats["points_added"]} points added; wrote '
              f'{stats["teacher_file"]}, {stats["student_file"]} and the '
              f'keyframes ({stats["bytes"] / 1e6:.1f} MB) in '
              f'{stats["seconds"]:.1f} s')
    print(f'Object-Complete frames in '
          f'{osp.join(args.root, args.patched_folder)}: '
          f'{total / 1e6:.1f} MB written in {time.time() - start:.1f} s')


if __name__ == '__main__':
    main()
