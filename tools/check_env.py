# Copyright (c) mmkd contributors. All rights reserved.
"""Check that the pinned stack and mmkd (from this checkout) are installed.

Exit status 0 when everything is in place; used by tools/install.sh to skip
installing on a second run.
"""
import argparse
import importlib
import os
import os.path as osp
import sys
from importlib import metadata

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PINNED = {
    'mmcv': '2.1.0',
    'mmengine': '0.10.7',
    'mmdet': '3.3.0',
    'mmsegmentation': '1.2.2',
    'mmdet3d': '1.4.0',
}
IMPORTS = ['mmcv.ops', 'mmseg.models', 'mmdet.models', 'mmdet3d.models',
           'ftfy', 'regex', 'sklearn', 'matplotlib', 'pytest', 'numba',
           'nuscenes', 'pkg_resources']


def problems():
    found = []
    torch_spec = os.environ.get('TORCH_SPEC', 'torch==2.13.0')
    wanted = {'torch': torch_spec.split('==')[1]} if '==' in torch_spec \
        else {}
    for dist, version in {**wanted, **PINNED}.items():
        try:
            have = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found.append(f'{dist} is not installed')
            continue
        if have.split('+')[0] != version:
            found.append(f'{dist} {have} installed, {version} wanted')
    for name in IMPORTS:
        try:
            importlib.import_module(name)
        except Exception as e:  # noqa: BLE001  (any import failure counts)
            found.append(f'import {name} fails: {e}')
    try:
        import mmkd
        if osp.dirname(osp.dirname(osp.abspath(mmkd.__file__))) != ROOT:
            found.append(f'mmkd is imported from {mmkd.__file__}, not '
                         f'from {ROOT}')
    except ImportError as e:
        found.append(f'import mmkd fails: {e}')
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--quiet', action='store_true')
    args = parser.parse_args()
    import warnings
    warnings.simplefilter('ignore')
    found = problems()
    if not args.quiet:
        for line in found:
            print(f'  - {line}')
        print('environment OK' if not found else 'environment incomplete')
    sys.exit(1 if found else 0)


if __name__ == '__main__':
    main()
