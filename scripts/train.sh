#!/usr/bin/env bash
# Train one experiment (the seed README's flags, short or long form), e.g.
#   ./scripts/train.sh --method MAQ+RLPD -env door-human-v1 -seqlen 9 -cbsz 16 -s 1 --auto_evaluate
# Flags: --method, -env/--environment, -seqlen/--sequence_length, -cbsz/--codebook_size, -s/--seed,
# -trs/--training_source, -tes/--testing_source, -t/--tag, --auto_evaluate, --preset, --device,
# --overwrite; -h/--help lists them with their defaults. Bash only translates: `maq train` decides
# (dataset generation and checks, a missing VQ-VAE trained first, finished runs skipped).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_maq.sh"
maq_exec train "$@"
