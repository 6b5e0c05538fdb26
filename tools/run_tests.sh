#!/usr/bin/env bash
# Install (if needed) and run the test suite. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install.sh
${PYTHON:-python3} -m pytest tests "$@"
