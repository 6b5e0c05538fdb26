#!/usr/bin/env bash
# Refresh the lock requirements/constraints.txt: install mmkd's requirements
# unpinned (the newest versions they allow) into a fresh virtual environment,
# run the test suite there, and write the lock from it only when the suite
# passes. Arguments go to pytest. Then review the diff, rebuild .venv
# (`rm -rf .venv && bash tools/install.sh`) and commit the lock.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="$PWD/${MMKD_LOCK_VENV:-.venv-lock}"
rm -rf "$VENV"
"${MMKD_BASE_PYTHON:-python3}" -m venv "$VENV"
PYTHON="$VENV/bin/python" MMKD_LOCK=none bash tools/install.sh
MMKD_LOCK=none "$VENV/bin/python" -m pytest tests "$@"
"$VENV/bin/python" tools/check_env.py --write-lock
echo "lock refreshed from $VENV: review 'git diff requirements/'," \
    "then 'rm -rf .venv && bash tools/install.sh'"
