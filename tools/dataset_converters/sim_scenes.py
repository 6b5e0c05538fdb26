# Copyright (c) mmkd contributors. All rights reserved.
"""Generate SimScenes (a nuScenes-format driving dataset) and its mmdet3d
info files; or add the sequence fields to infos of the real nuScenes.

Examples:
    python tools/dataset_converters/sim_scenes.py data/simscenes
    python tools/dataset_converters/sim_scenes.py data/simscenes --tiny
    # infos of a real nuScenes dataroot (mmdet3d's converter + sequence fields)
    python tools/dataset_converters/sim_scenes.py data/nuscenes \\
        --infos-only --version v1.0-trainval --info-prefix nuscenes
    # add them to info files made earlier with mmdet3d's create_data.py
    python tools/dataset_converters/sim_scenes.py data/nuscenes \\
        --version v1.0-trainval --add-to data/nuscenes/nuscenes_infos_*.pkl
"""
import argparse
import time

from mmkd.datasets.sim_scenes.generate import SIZES, make_sim_scenes
from mmkd.datasets.sim_scenes.infos import (add_sequence_fields,
                                            check_nuscenes_root,
                                            create_infos)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('root', nargs='?', default='data/simscenes')
    parser.add_argument('--tiny', action='store_true',
                        help='2 scenes of 3 keyframes, small images (tests)')
    parser.add_argument('--version', default='v1.0-mini')
    parser.add_argument('--num-train', type=int)
    parser.add_argument('--num-val', type=int)
    parser.add_argument('--num-keyframes', type=int)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--info-prefix', default='simscenes')
    parser.add_argument('--max-sweeps', type=int, default=10)
    parser.add_argument('--infos-only', action='store_true',
                        help='do not generate: write infos of the '
                        'nuScenes data already in ROOT')
    parser.add_argument('--add-to', nargs='+', metavar='INFO_FILE',
                        help='only add the sequence fields to these mmdet3d '
                        'v2 info files of the nuScenes data in ROOT')
    return parser.parse_args()


def main():
    args = parse_args()
    start = time.time()
    if args.add_to:
        check_nuscenes_root(args.root, args.version)
        from nuscenes.nuscenes import NuScenes
        nusc = NuScenes(version=args.version, dataroot=args.root,
                        verbose=False)
        for info_file in args.add_to:
            add_sequence_fields(info_file, nusc)
        print(f'added the sequence fields to {args.add_to}')
        return
    if not args.infos_only:
        size = dict(SIZES['tiny' if args.tiny else 'default'])
        for key in ('num_train', 'num_val', 'num_keyframes'):
            if getattr(args, key) is not None:
                size[key] = getattr(args, key)
        make_sim_scenes(args.root, version=args.version, seed=args.seed,
                        **size)
    files = create_infos(args.root, version=args.version,
                         info_prefix=args.info_prefix,
                         max_sweeps=args.max_sweeps)
    print(f'SimScenes: wrote {args.root} and {files} in '
          f'{time.time() - start:.0f} s')


if __name__ == '__main__':
    main()
