#!/usr/bin/env bash
# Build the maq image (Dockerfile) and enter it with docker or podman, whichever is installed,
# with this checkout mounted at /workspace and the GPUs passed through when the host has any.
#   ./scripts/start-container.sh                                   # a shell in the container
#   ./scripts/start-container.sh -- ./scripts/train.sh --preset smoke --method SAC   # one command
# $MAQ_DATA_DIR, if set, is mounted read-only at /data (and MAQ_DATA_DIR=/data inside). Caches
# (minari downloads, pip) persist in .container_root/, the container's $HOME.
set -euo pipefail

usage() {
    cat <<'USAGE'
usage: scripts/start-container.sh [--engine docker|podman] [--image NAME] [--no-build] [--no-gpu]
                                  [--dry-run] [-h|--help] [-- COMMAND ...]
  --engine ENGINE  container engine (default: docker if installed, else podman)
  --image NAME     image name (default: maq)
  --no-build       do not (re)build the image first
  --no-gpu         do not pass GPUs through (default: all GPUs when nvidia-smi lists any)
  --dry-run        print the build and run commands instead of running them
  -- COMMAND ...   run COMMAND in the container instead of an interactive shell
USAGE
}

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
engine="${MAQ_CONTAINER_ENGINE:-}" image=maq build=1 gpu=1 dry=0 cmd=()
while [ $# -gt 0 ]; do
    case "$1" in
        --engine) engine="${2:?--engine needs docker or podman}"; shift 2 ;;
        --image) image="${2:?--image needs a name}"; shift 2 ;;
        --no-build) build=0; shift ;;
        --no-gpu) gpu=0; shift ;;
        --dry-run) dry=1; shift ;;
        -h|--help) usage; exit 0 ;;
        --) shift; cmd=("$@"); break ;;
        *) echo "start-container.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done

if [ -z "$engine" ]; then
    for candidate in docker podman; do
        if command -v "$candidate" >/dev/null 2>&1; then engine=$candidate; break; fi
    done
fi
case "$engine" in
    docker|podman) ;;
    "") echo "start-container.sh: neither docker nor podman is installed" >&2; exit 1 ;;
    *) echo "start-container.sh: --engine must be docker or podman, not $engine" >&2; exit 2 ;;
esac

run_args=(run --rm -i --ipc=host --network=host -v "$ROOT:/workspace" -w /workspace
          -e HOME=/workspace/.container_root)
[ -t 0 ] && [ -t 1 ] && run_args+=(-t)
if [ "$gpu" = 1 ] && command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q GPU; then
    # docker: the NVIDIA container toolkit; podman: CDI (nvidia-ctk cdi generate).
    if [ "$engine" = docker ]; then run_args+=(--gpus all); else run_args+=(--device nvidia.com/gpu=all); fi
fi
if [ "$engine" = docker ]; then
    run_args+=(--user "$(id -u):$(id -g)")  # files written to the checkout stay the user's
fi
if [ -n "${MAQ_DATA_DIR:-}" ]; then
    run_args+=(-v "$(cd "$MAQ_DATA_DIR" && pwd):/data:ro" -e MAQ_DATA_DIR=/data)
fi
run_args+=("$image")
[ ${#cmd[@]} -gt 0 ] && run_args+=("${cmd[@]}")

if [ "$dry" = 1 ]; then
    [ "$build" = 1 ] && printf '%q ' "$engine" build -t "$image" -f "$ROOT/Dockerfile" "$ROOT" && echo
    printf '%q ' "$engine" "${run_args[@]}"; echo
    exit 0
fi
mkdir -p "$ROOT/.container_root"
if [ "$build" = 1 ]; then
    "$engine" build -t "$image" -f "$ROOT/Dockerfile" "$ROOT"
fi
exec "$engine" "${run_args[@]}"
