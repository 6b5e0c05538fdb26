#!/usr/bin/env bash
# Install (if needed) and run the test suite in mmkd's environment (.venv,
# see tools/install.sh). Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install.sh
source tools/python_env.sh
"$PYTHON" -m pytest tests "$@"
