#!/usr/bin/env bash
# Install (if needed) and run the demo: teacher, student and distilled
# student on the built-in DigitScenes dataset. Arguments go to tools/demo.py.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install.sh
${PYTHON:-python3} tools/demo.py "$@"
