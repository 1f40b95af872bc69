# Sourced by train.sh, evaluate.sh and lazy_rerun.sh (not run on its own).
# maq_exec CMD ARGS...: replace this shell by `maq CMD ARGS...` run with the project's Python:
# $MAQ_PYTHON if set (the container sets it), else the repo's .venv, else python3 on PATH.
# Outputs land under the repository ($MAQ_ROOT defaults to it) wherever the script is called from;
# relative file arguments stay relative to the caller's directory.
maq_exec() {
    local root py
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    py="${MAQ_PYTHON:-}"
    if [ -z "$py" ]; then
        if [ -x "$root/.venv/bin/python" ]; then py="$root/.venv/bin/python"; else py=python3; fi
    fi
    export MAQ_ROOT="${MAQ_ROOT:-$root}"
    export MUJOCO_GL="${MUJOCO_GL:-egl}"
    exec "$py" -m maq.cli "$@"
}
