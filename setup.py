# Copyright (c) mmkd contributors. All rights reserved.
import os.path as osp

from setuptools import find_packages, setup


def get_version():
    scope = {}
    with open(osp.join('mmkd', 'version.py')) as f:
        exec(compile(f.read(), 'mmkd/version.py', 'exec'), scope)
    return scope['__version__']


def parse_requirements(fname):
    """Read requirement lines, skipping comments and blank lines."""
    with open(fname) as f:
        lines = [line.split('#')[0].strip() for line in f]
    return [line for line in lines if line]


setup(
    name='mmkd',
    version=get_version(),
    description='Knowledge distillation for dense vision on OpenMMLab',
    long_description=open('README.md').read() if osp.exists('README.md')
    else '',
    long_description_content_type='text/markdown',
    keywords='knowledge distillation, detection, segmentation, 3D, openmmlab',
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'projects',
                                    'docs')),
    include_package_data=True,
    python_requires='>=3.8',
    license='Apache License 2.0',
    # torch and mmcv are installed first by tools/install.sh (the mmcv build
    # needs torch present); requirements/no_deps.txt goes in with --no-deps.
    install_requires=parse_requirements('requirements/runtime.txt'),
    extras_require=dict(tests=parse_requirements('requirements/tests.txt')),
    zip_safe=False)
