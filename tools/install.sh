#!/usr/bin/env bash
# Install mmkd and the exact environment its test suite passed on.
#
#   bash tools/install.sh          # runtime + test requirements
#
# Where: the project's own virtual environment <checkout>/.venv, created on
# the first run (from python3, or $MMKD_BASE_PYTHON) and reused after; an
# active virtual environment ($VIRTUAL_ENV) or PYTHON=/path/to/python is
# used instead when given. Every package is pinned by the lock
# requirements/constraints.txt (pip -c), so a new machine gets what the
# suite passed on; a second run only checks the environment against the
# lock (a few seconds) and reinstalls what drifted.
# Environment:
#   PYTHON           interpreter to install into (default: see above)
#   MMKD_BASE_PYTHON interpreter that creates .venv (default: python3; the
#                    lock was made on Python 3.11)
#   MMKD_TORCH_SPEC  torch requirement (default: the lock's torch==2.13.0,
#                    the CPU build when PIP_FIND_LINKS holds it). CUDA users
#                    install their torch build first, e.g. `pip install
#                    torch==2.1.2 --index-url
#                    https://download.pytorch.org/whl/cu121`, and set
#                    MMKD_TORCH_SPEC=torch==2.1.2; mmcv 2.1.0 is then built
#                    against it and torch is left out of the lock.
#   MMKD_LOCK        the lock file; `none` installs unpinned (used by
#                    tools/update_lock.sh to refresh the lock)
#   PIP_FIND_LINKS   extra wheel folders; a prebuilt mmcv 2.1.0 wheel found
#                    there skips the ~11 min source build. Prepend to it,
#                    never replace it.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/python_env.sh
LOCK=${MMKD_LOCK:-requirements/constraints.txt}
LOCKED_TORCH=$(sed -n 's/^torch==//p' requirements/constraints.txt)
TORCH_SPEC=${MMKD_TORCH_SPEC:-torch==$LOCKED_TORCH}
export TORCH_SPEC MMKD_LOCK=$LOCK

if [ "$PYTHON" = "$MMKD_ROOT/.venv/bin/python" ] && [ ! -x "$PYTHON" ]; then
    BASE=${MMKD_BASE_PYTHON:-python3}
    echo "== creating the virtual environment .venv ($("$BASE" --version))"
    if ! "$BASE" -m venv "$MMKD_ROOT/.venv"; then
        rm -rf "$MMKD_ROOT/.venv"
        echo "mmkd: '$BASE -m venv' failed; on Debian/Ubuntu install the" \
            "python3-venv package, or set MMKD_BASE_PYTHON or PYTHON" >&2
        exit 1
    fi
fi

if "$PYTHON" tools/check_env.py --quiet; then
    echo "mmkd environment is ready ($PYTHON, $("$PYTHON" --version))"
    exit 0
fi

pip() { "$PYTHON" -m pip "$@"; }
CONSTRAINTS=()
if [ "$LOCK" != none ]; then
    # a torch other than the lock's brings its own torch pins
    LOCK_FILE=$(mktemp)
    trap 'rm -f "$LOCK_FILE"' EXIT
    if [ "$TORCH_SPEC" = "torch==$LOCKED_TORCH" ]; then
        cp "$LOCK" "$LOCK_FILE"
    else
        echo "== $TORCH_SPEC is not the lock's torch==$LOCKED_TORCH:" \
            "torch is not pinned by the lock"
        grep -v '^torch==' "$LOCK" >"$LOCK_FILE"
    fi
    CONSTRAINTS=(-c "$LOCK_FILE")
fi

echo "== installing $TORCH_SPEC into $PYTHON"
pip install "${CONSTRAINTS[@]}" "$TORCH_SPEC" setuptools

echo "== installing mmcv 2.1.0"
# mmcv 2.1.0 is a source release on PyPI. Take a matching wheel from
# PIP_FIND_LINKS when there is one; else build it against the installed
# torch: its setup.py needs setuptools<70 and no build isolation.
if ! MMCV_WITH_OPS=1 pip install "${CONSTRAINTS[@]}" --only-binary mmcv \
    mmcv==2.1.0 2>/dev/null; then
    echo "   no mmcv 2.1.0 wheel found: building it (about 11 min on 2 cores)"
    # build-only tools, outside the lock: removed after the build
    pip install 'setuptools<70' wheel ninja
    MMCV_WITH_OPS=1 pip install "${CONSTRAINTS[@]}" \
        --no-build-isolation --no-binary mmcv mmcv==2.1.0
    pip uninstall -y wheel ninja
fi

echo "== installing the OpenMMLab stack and mmkd"
pip install "${CONSTRAINTS[@]}" "$TORCH_SPEC" -r requirements/runtime.txt \
    -r requirements/tests.txt
pip install "${CONSTRAINTS[@]}" --no-deps -r requirements/no_deps.txt
pip install "${CONSTRAINTS[@]}" --no-build-isolation --no-deps -e .

"$PYTHON" tools/check_env.py
