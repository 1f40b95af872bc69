#!/usr/bin/env bash
# One device-tool call on a GPU machine: maq's CUDA tests, then RLPD's update beside the JAX anchor.
#
# Prepare here (the device tool sends only the repository):
#   mkdir -p .anchors && cp -r ../shared/anchors/rlpd_jax .anchors/
#   grep -qx '/.anchors/' .git/info/exclude || echo '/.anchors/' >> .git/info/exclude
# then run `bash benchmarks/gpu_check.sh` with carry [".anchors/rlpd_jax"] and timeout_s >= 540.
# The machine's python3 holds PyTorch and JAX; the anchor's few extra wheels go to /tmp/site.
# Logs land in $OUT (or /tmp/gpu_check): gpu_tests.log, rlpd_vs_jax.log.
set -uo pipefail
OUT=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .anchors/rlpd_jax/wheels/*.whl || echo "anchor wheels did not install" >&2
nvidia-smi -L | head -n 1 | tee "$OUT/device.txt"
# maq's CUDA tests (sync-free updates); maq itself from src/, its pure-Python needs from /tmp/site
PYTHONPATH=$PWD/src:$PWD timeout 180 python3 -m pytest -q -p no:cacheprovider \
  tests/test_device.py 2>&1 | tee "$OUT/gpu_tests.log"
PYTHONPATH=/tmp/site:$PWD/src timeout 420 python3 benchmarks/rlpd_vs_jax.py --device cuda \
  --anchor .anchors/rlpd_jax --rounds 1 2>&1 | tee "$OUT/rlpd_vs_jax.log"
