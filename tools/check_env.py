# Copyright (c) mmkd contributors. All rights reserved.
"""Check that the installed environment is the one the suite passed on.

The lock ``requirements/constraints.txt`` pins every distribution of the
tested environment; this script compares the running interpreter's
distributions with it, checks the imports mmkd needs and that ``mmkd`` is
this checkout. Exit status 0 when everything is in place; used by
``tools/install.sh`` to skip installing on a second run and by the test
suite (``tests/test_utils/test_environment.py``).

    python tools/check_env.py            # report
    python tools/check_env.py --strict   # distributions outside the lock
                                         # count as problems too
    python tools/check_env.py --write-lock  # the lock from this environment
                                            # (tools/update_lock.sh)
"""
import argparse
import importlib
import os
import os.path as osp
import re
import site
import sys
import sysconfig
from importlib import metadata
from typing import Dict, List, Optional

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
LOCK = osp.join(ROOT, 'requirements', 'constraints.txt')
IMPORTS = ['mmcv.ops', 'mmseg.models', 'mmdet.models', 'mmdet3d.models',
           'ftfy', 'regex', 'sklearn', 'matplotlib', 'pytest', 'numba',
           'nuscenes', 'pkg_resources', 'torch.utils.tensorboard']
#: distributions that belong to the interpreter or the checkout, not the lock
UNLOCKED = {'pip', 'mmkd'}


def canonical(name: str) -> str:
    """PEP 503 name: ``Pillow`` and ``pillow``, ``typing_extensions`` and
    ``typing-extensions`` are one distribution."""
    return re.sub(r'[-_.]+', '-', name).lower()


def public_version(version: str) -> str:
    """``2.13.0+cpu`` -> ``2.13.0``: a local build of the same release."""
    return version.split('+')[0]


def read_lock(path: str = LOCK) -> Dict[str, str]:
    """Distribution name (canonical) to pinned version, from ``name==x``
    lines; comments and blank lines skipped.

    Raises:
        ValueError: A line that is not ``name==version``, naming the file
            and line.
    """
    pins = {}
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.split('#')[0].strip()
            if not line:
                continue
            name, sep, version = line.partition('==')
            if not sep or not name.strip() or not version.strip():
                raise ValueError(f'{path}:{lineno}: expected name==version, '
                                 f'got {line!r}')
            pins[canonical(name.strip())] = version.strip()
    return pins


def lock_python(path: str = LOCK) -> Optional[str]:
    """The ``major.minor`` Python version the lock was made with (its
    ``# python X.Y`` line), or None."""
    with open(path) as f:
        for line in f:
            match = re.match(r'#\s*python\s+(\d+\.\d+)\s*$', line)
            if match:
                return match.group(1)
    return None


def _install_paths() -> List[str]:
    """Where this interpreter installs distributions. Not ``sys.path``:
    importing ``pkg_resources`` appends setuptools' ``_vendor`` folder to
    it, whose bundled dist-infos (jaraco.*, more-itertools) are no
    installed distributions."""
    paths = {sysconfig.get_paths()[k] for k in ('purelib', 'platlib')}
    if site.ENABLE_USER_SITE:
        paths.add(site.getusersitepackages())
    return [p for p in sys.path if p in paths] + sorted(
        p for p in paths if p not in sys.path)


def installed() -> Dict[str, str]:
    """Canonical name to version of every distribution of this
    interpreter (the first one found wins, as for imports)."""
    found = {}
    for dist in metadata.distributions(path=_install_paths()):
        name = dist.metadata['Name']
        if name:
            found.setdefault(canonical(name), dist.version)
    return found


def lock_problems(pins: Dict[str, str],
                  have: Dict[str, str],
                  torch_spec: Optional[str] = None) -> List[str]:
    """Locked distributions that are missing or at another version.

    Args:
        pins (dict): :func:`read_lock`'s result.
        have (dict): :func:`installed`'s result.
        torch_spec (str, optional): ``torch==X`` when the user chose another
            torch than the lock's (``MMKD_TORCH_SPEC``); torch is then
            checked against it instead.

    Returns:
        list[str]: One line per problem.
    """
    pins = dict(pins)
    if torch_spec and '==' in torch_spec:
        pins['torch'] = torch_spec.split('==', 1)[1]
    found = []
    for name, version in sorted(pins.items()):
        if name not in have:
            found.append(f'{name} is not installed ({version} is locked)')
        elif public_version(have[name]) != public_version(version):
            found.append(f'{name} {have[name]} is installed, {version} is '
                         'locked')
    return found


def extra_distributions(pins: Dict[str, str],
                        have: Dict[str, str]) -> List[str]:
    """Installed distributions the lock does not list (the suite was not
    run with them)."""
    return [
        f'{name} {version} is installed but not in the lock'
        for name, version in sorted(have.items())
        if name not in pins and name not in UNLOCKED
    ]


def import_problems() -> List[str]:
    found = []
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


def problems(strict: bool = False, lock: str = LOCK) -> List[str]:
    """Everything that differs from the tested environment.

    Args:
        strict (bool): Count distributions outside the lock as problems.
        lock (str): The lock file; ``MMKD_LOCK=none`` skips the lock.
    """
    found = []
    if lock != 'none':
        pins = read_lock(lock)
        have = installed()
        torch_spec = os.environ.get('TORCH_SPEC')
        if torch_spec == f'torch=={pins.get("torch")}':
            torch_spec = None
        python = '.'.join(map(str, sys.version_info[:2]))
        if lock_python(lock) not in (None, python):
            found.append(f'Python {python} runs, the lock {lock} was made '
                         f'on Python {lock_python(lock)}')
        found += lock_problems(pins, have, torch_spec)
        if strict:
            found += extra_distributions(pins, have)
    return found + import_problems()


def write_lock(path: str = LOCK) -> None:
    """Write every distribution of this interpreter (but pip and mmkd) as
    ``name==version`` to ``path``; local labels such as ``+cpu`` are
    dropped so that the lock names a release, whatever its build."""
    have = installed()
    names = {
        canonical(d.metadata['Name']): d.metadata['Name']
        for d in metadata.distributions(path=_install_paths())
    }
    lines = [
        '# The environment the test suite passed on: every distribution with',
        '# its exact version, used by tools/install.sh as pip constraints',
        '# (-c) and checked by tools/check_env.py and',
        '# tests/test_utils/test_environment.py. Refresh it with',
        '# `bash tools/update_lock.sh` (docs: README.md, "The environment").',
        f'# python {sys.version_info.major}.{sys.version_info.minor}',
    ]
    lines += [
        f'{names[name]}=={public_version(version)}'
        for name, version in sorted(have.items()) if name not in UNLOCKED
    ]
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--quiet', action='store_true')
    parser.add_argument(
        '--strict',
        action='store_true',
        help='distributions outside the lock are problems too')
    parser.add_argument(
        '--write-lock',
        action='store_true',
        help=f'write this environment to {osp.relpath(LOCK, ROOT)}')
    args = parser.parse_args()
    if args.write_lock:
        write_lock()
        print(f'wrote {LOCK}')
        return
    import warnings
    warnings.simplefilter('ignore')
    found = problems(args.strict, os.environ.get('MMKD_LOCK', LOCK))
    if not args.quiet:
        for line in found:
            print(f'  - {line}')
        print('environment OK' if not found else 'environment incomplete')
    sys.exit(1 if found else 0)


if __name__ == '__main__':
    main()
