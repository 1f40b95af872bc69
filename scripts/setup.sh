#!/usr/bin/env bash
# The one set-up command: creates .venv and installs maq with everything it needs.
# Idempotent: a second run only checks that pyproject.toml has not changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
stamp=.venv/.maq-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && .venv/bin/python -c "import maq" 2>/dev/null; then
    echo "maq is already set up in .venv (pyproject.toml unchanged)"
    exit 0
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# torch is pinned in pyproject.toml; installing it first lets pip take a local CPU wheel
# (pip's find-links) where one exists, and PyPI's CUDA build on a GPU machine.
.venv/bin/python -m pip install --quiet "$(grep -o '"torch==[^"]*"' pyproject.toml | tr -d '"')"
.venv/bin/python -m pip install --quiet -e ".[dev]"
echo "$want" > "$stamp"
echo "maq is set up: source .venv/bin/activate, then run ./scripts/test.sh"
