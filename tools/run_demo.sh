#!/usr/bin/env bash
# Install (if needed) and run the demo in mmkd's environment (.venv, see
# tools/install.sh): teacher, student and distilled student on the built-in
# DigitScenes dataset. Arguments go to tools/demo.py.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install.sh
source tools/python_env.sh
"$PYTHON" tools/demo.py "$@"
