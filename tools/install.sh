#!/usr/bin/env bash
# Install mmkd and its pinned OpenMMLab stack into the current Python.
#
#   bash tools/install.sh          # runtime + test requirements
#
# A second run only checks the installed versions (a few seconds).
# Environment:
#   PYTHON           interpreter to install into (default: python3)
#   MMKD_TORCH_SPEC  torch requirement (default: torch==2.13.0, the CPU build
#                    when PIP_FIND_LINKS holds it). CUDA users install their
#                    torch build first, e.g. `pip install torch==2.1.2
#                    --index-url https://download.pytorch.org/whl/cu121`,
#                    and set MMKD_TORCH_SPEC=torch==2.1.2; mmcv 2.1.0 is then
#                    built against it.
#   PIP_FIND_LINKS   extra wheel folders; a prebuilt mmcv 2.1.0 wheel found
#                    there skips the ~11 min source build. Prepend to it,
#                    never replace it.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${MMKD_TORCH_SPEC:-torch==2.13.0}
export TORCH_SPEC

if "$PYTHON" tools/check_env.py --quiet; then
    echo "mmkd environment is ready ($("$PYTHON" --version))"
    exit 0
fi

pip() { "$PYTHON" -m pip "$@"; }

echo "== installing $TORCH_SPEC"
pip install "$TORCH_SPEC" 'setuptools>=77.0.3,<81'

echo "== installing mmcv 2.1.0"
# mmcv 2.1.0 is a source release on PyPI. Take a matching wheel from
# PIP_FIND_LINKS when there is one; else build it against the installed
# torch: its setup.py needs setuptools<70 and no build isolation.
if ! MMCV_WITH_OPS=1 pip install --only-binary mmcv mmcv==2.1.0 2>/dev/null
then
    echo "   no mmcv 2.1.0 wheel found: building it (about 11 min on 2 cores)"
    pip install 'setuptools<70' wheel ninja
    MMCV_WITH_OPS=1 pip install --no-build-isolation --no-binary mmcv \
        mmcv==2.1.0
fi

echo "== installing the OpenMMLab stack and mmkd"
pip install "$TORCH_SPEC" -r requirements/runtime.txt \
    -r requirements/tests.txt
pip install --no-deps -r requirements/no_deps.txt
pip install --no-build-isolation --no-deps -e .

"$PYTHON" tools/check_env.py
