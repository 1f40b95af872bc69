#!/usr/bin/env bash
# The one test command: the whole pytest suite (door-data tests need MAQ_DATA_DIR, see README).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${MAQ_DATA_DIR:-}" ] && [ -d ../shared/data/adroit_human ]; then
    export MAQ_DATA_DIR="$(cd ../shared/data/adroit_human && pwd)"
fi
export MUJOCO_GL=${MUJOCO_GL:-egl}
exec .venv/bin/python -m pytest "$@"
