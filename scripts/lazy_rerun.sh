#!/usr/bin/env bash
# Run a grid of experiments once each, on Ray (local by default), then print a summary table.
# Finished runs (done.json, and their evaluation row) are skipped, so running this again after a
# failure only does what is missing. Logs: sweep_logs/<env>_<method>_sq<L>_k<K>_seed<s>.log.
#
# The grid (the seed README's 108 runs); edit it here or override it with flags, e.g.
#   ./scripts/lazy_rerun.sh --envs door-human-v1 --seqs 3 9 --seeds 1
ENVS=(door-human-v1 pen-human-v1 hammer-human-v1 relocate-human-v1)
METHODS=(MAQ+RLPD)          # also: MAQ+DSAC MAQ+IQL SAC RLPD IQL
SEQS=(1 2 3 4 5 6 7 8 9)
KS=(16)                     # the paper also tries 8 32
SEEDS=(1 10 100)
#
# Other flags: -t/--tag, -trs/--training_source, -tes/--testing_source, --preset, --device,
# --no_auto_evaluate, --episodes, --cpus_per_run, --gpus_per_run, --address (or $RAY_ADDRESS) for
# a Ray cluster (docs/sweeps.md), --dry-run; -h/--help lists them all.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_maq.sh"
maq_exec sweep --envs "${ENVS[@]}" --methods "${METHODS[@]}" --seqs "${SEQS[@]}" \
    --ks "${KS[@]}" --seeds "${SEEDS[@]}" "$@"
