# Sourced by mmkd's shell scripts: sets PYTHON to the interpreter mmkd is
# installed in, so that no script runs whatever `python` is first on PATH.
#
#   1. $PYTHON when set (any interpreter you choose, e.g. a conda env's);
#   2. the active virtual environment ($VIRTUAL_ENV);
#   3. the project's own environment, <checkout>/.venv (made by
#      tools/install.sh).
MMKD_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${PYTHON:-}" ]; then
    if [ -n "${VIRTUAL_ENV:-}" ]; then
        PYTHON="$VIRTUAL_ENV/bin/python"
    else
        PYTHON="$MMKD_ROOT/.venv/bin/python"
    fi
fi
export PYTHON MMKD_ROOT

# Fail early when the chosen interpreter does not exist (scripts other than
# tools/install.sh call this after sourcing).
mmkd_require_python() {
    if [ ! -x "$PYTHON" ] && ! command -v "$PYTHON" >/dev/null 2>&1; then
        echo "mmkd: no Python at $PYTHON; run 'bash tools/install.sh'" \
            "first (it creates $MMKD_ROOT/.venv), or set PYTHON=" >&2
        exit 1
    fi
}
