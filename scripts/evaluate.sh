#!/usr/bin/env bash
# Evaluate one experiment's best checkpoint (or -path/--model_path) and append its row to
# evaluation_results/agent_performance_<env>.csv, e.g.
#   ./scripts/evaluate.sh --method MAQ+RLPD -env door-human-v1 -seqlen 9 -cbsz 16 -s 1
# Flags: those of train.sh (tags included) plus -path/--model_path and --episodes; -h/--help lists
# them. Bash only translates: `maq evaluate` picks the checkpoint and checks the datasets.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_maq.sh"
maq_exec evaluate "$@"
