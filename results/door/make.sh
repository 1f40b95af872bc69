#!/usr/bin/env bash
# How results/door and docs/results.md were made (run from the repository root).
#
# Runs: each trained on a recorded commit, from a git worktree of it (PYTHONPATH=<worktree>/src),
# one thread, under RUNS (their MAQ_ROOT); the commit is in each run's launch log line and in
# results/door/RUNS.md. This script does what follows training: evaluation (100 episodes), the
# Random and Human reference rows, copying the small artifacts here, the report and the clip.
set -euo pipefail
RUNS=${RUNS:-/work/runs/door}
export MAQ_DATA_DIR=${MAQ_DATA_DIR:-../shared/data/adroit_human} MUJOCO_GL=egl OMP_NUM_THREADS=1
PY=${PY:-.venv/bin/python}
RUN_DIRS=(
    RLPD_MAQ/log/exp_seed1_sq9_k16/door-human-v1/RLPDMAQ
    DSAC_MAQ/log/exp_seed1_sq8_k8/door-human-v1/DSACMAQ
    SAC/log/door-human-v1/SAC_seed1
    RLPD_MAQ/log/exp_seed1_sq6_k16/door-human-v1/RLPDMAQ
    rlpd/log/door-human-v1/RLPD_seed1
    RLPD_MAQ/log/exp_seed1_sq3_k16/door-human-v1/RLPDMAQ
    RLPD_MAQ/log/exp_seed1_sq1_k16/door-human-v1/RLPDMAQ
    IQL/log/door-human-v1/MAQ_iqlseed1_sq9_k16_seed1
    RLPD_MAQ/log/exp_seed2_sq9_k16/door-human-v1/RLPDMAQ
)

# 1. evaluation rows (each appends to $RUNS/evaluation_results/agent_performance_door-human-v1.csv)
MAQ_ROOT=$RUNS $PY -m maq.cli evaluate --method Random -s 1 --episodes 100
MAQ_ROOT=$RUNS $PY -m maq.cli evaluate --method Human -s 1
MAQ_ROOT=$RUNS $PY -m maq.cli evaluate --method MAQ+RLPD -seqlen 9 -cbsz 16 -s 1 --episodes 100
MAQ_ROOT=$RUNS $PY -m maq.cli evaluate --method MAQ+DSAC -seqlen 8 -cbsz 8 -s 1 --episodes 100
MAQ_ROOT=$RUNS $PY -m maq.cli evaluate --method SAC -s 1 --episodes 100
MAQ_ROOT=$RUNS $PY -m maq.cli evaluate --method MAQ+RLPD -seqlen 6 -cbsz 16 -s 1 --episodes 100
MAQ_ROOT=$RUNS $PY -m maq.cli evaluate --method RLPD -s 1 --episodes 100
MAQ_ROOT=$RUNS $PY -m maq.cli evaluate --method MAQ+RLPD -seqlen 3 -cbsz 16 -s 1 --episodes 100
MAQ_ROOT=$RUNS $PY -m maq.cli evaluate --method MAQ+RLPD -seqlen 1 -cbsz 16 -s 1 --episodes 100
MAQ_ROOT=$RUNS $PY -m maq.cli evaluate --method MAQ+IQL -seqlen 9 -cbsz 16 -s 1 --episodes 100
MAQ_ROOT=$RUNS $PY -m maq.cli evaluate --method Random -s 2 --episodes 100  # seed 2's held-out demos
MAQ_ROOT=$RUNS $PY -m maq.cli evaluate --method Human -s 2
MAQ_ROOT=$RUNS $PY -m maq.cli evaluate --method MAQ+RLPD -seqlen 9 -cbsz 16 -s 2 --episodes 100

# 2. configs, tables, best checkpoints and distillations into results/door/ (the evaluation rows
#    are merged into results/door/agent_performance_door-human-v1.csv: runs finish on different
#    machines, each with its own run root)
$PY results/publish.py --root "$RUNS" --task door-human-v1 --runs "${RUN_DIRS[@]}"

# 3. the report (docs/results.md) with learning curves, and the clip in docs/clips/
$PY -m maq.cli gen-data --env door-human-v1 --seed 1 --out_dir results/door/offline_data
best() { ls "results/door/$1"/model_*.pth; }  # the one checkpoint published per run
MAQ_ROOT=results/door $PY -m maq.cli clip --method Human MAQ+RLPD RLPD -s 1 --episode 1 \
    --model_path "" "$(best "${RUN_DIRS[0]}")" "$(best "${RUN_DIRS[4]}")" \
    --out docs/clips/door_human_maqrlpd_rlpd_ep1
MAQ_ROOT=results/door $PY -m maq.cli clip --method Human MAQ+RLPD MAQ+DSAC -s 1 --episode 1 \
    --model_path "" "$(best "${RUN_DIRS[0]}")" "$(best "${RUN_DIRS[1]}")" \
    --out docs/clips/door_human_maqrlpd_maqdsac_ep1
MAQ_ROOT=results/door $PY -m maq.cli report \
    --results results/door/agent_performance_door-human-v1.csv \
    --runs "${RUN_DIRS[@]/#/results/door/}" --out docs/results.md --figures_dir docs/figures \
    --clips docs/clips/door_human_maqrlpd_rlpd_ep1.gif docs/clips/door_human_maqrlpd_maqdsac_ep1.gif
MAQ_ROOT=results/door $PY -m maq.cli plot heatmap --results results/door/agent_performance_door-human-v1.csv \
    --heatmap_method MAQ+RLPD -s 1 --out docs/figures/door-human-v1_maqrlpd_L_ablation --formats png

# 4. the forearm roll of each agent against the human demos (docs/reproduction.md, "backhand")
MAQ_ROOT=results/door $PY results/door/forearm.py --episodes 20 \
    --run MAQ+RLPD "$(best "${RUN_DIRS[0]}")" --run RLPD "$(best "${RUN_DIRS[4]}")" \
    --run MAQ+DSAC "$(best "${RUN_DIRS[1]}")" \
    --run SAC results/door/SAC/log/door-human-v1/SAC_seed1/checkpoints/SAC_model_928000_31.13.zip \
    >results/door/forearm.md
