#!/usr/bin/env bash
# The door reproduction's training queue: keeps at most two runs training, in the order below.
#
#   bash results/door/queue.sh           # start what fits now, print each run's state
#   nohup bash results/door/queue.sh --watch &   # the same every 5 minutes until all are done
#
# Each run trains from a git worktree of its recorded commit (/work/wt-<commit>, made if missing,
# PYTHONPATH=<worktree>/src so later edits cannot change it), one torch thread, nohup, under RUNS
# (its MAQ_ROOT), with its log in RUNS/<name>.log. A run that was stopped (the session ended, a
# kill) resumes from its last resume point with the same command. A run is done when its log
# shows maq's closing "run folder:" line after its last start. Run from the repository root.
set -uo pipefail
RUNS=${RUNS:-/work/runs/door}
DATA=${MAQ_DATA_DIR:-/work/shared/data/adroit_human}
PY=${PY:-$PWD/.venv/bin/python}
SLOTS=${SLOTS:-2}
NEW=2c93402  # runs not yet started train at this commit (CPU numerics as at 320c0fe)

# name | commit | maq train arguments (seed 1 of every method first, then the L ablation, then
# seeds 2 and 3). RLPD's budget is 100k env steps (the issue's floor for a CPU; 1M on a GPU), with
# a resume point at every evaluation (5k steps) since it runs for hours.
QUEUE=(
  "maqrlpd_s1|b536e8b|--method MAQ+RLPD --environment door-human-v1 -seqlen 9 -cbsz 16 -s 1"
  "maqdsac_s1|fae02c4|--method MAQ+DSAC --environment door-human-v1 -seqlen 8 -cbsz 8 -s 1"
  "sac_s1|320c0fe|--method SAC --environment door-human-v1 -s 1"
  "maqiql_s1|320c0fe|--method MAQ+IQL --environment door-human-v1 -seqlen 9 -cbsz 16 -s 1"
  "rlpd_s1|$NEW|--method RLPD --environment door-human-v1 -s 1 --set total_transitions=100000 --set resume_every=1"
  "iql_s1|$NEW|--method IQL --environment door-human-v1 -s 1"
  "maqrlpd_L6_s1|$NEW|--method MAQ+RLPD --environment door-human-v1 -seqlen 6 -cbsz 16 -s 1"
  "maqrlpd_L3_s1|$NEW|--method MAQ+RLPD --environment door-human-v1 -seqlen 3 -cbsz 16 -s 1"
  "maqrlpd_L1_s1|$NEW|--method MAQ+RLPD --environment door-human-v1 -seqlen 1 -cbsz 16 -s 1"
  "maqrlpd_s2|$NEW|--method MAQ+RLPD --environment door-human-v1 -seqlen 9 -cbsz 16 -s 2"
  "maqdsac_s2|$NEW|--method MAQ+DSAC --environment door-human-v1 -seqlen 8 -cbsz 8 -s 2"
  "maqiql_s2|$NEW|--method MAQ+IQL --environment door-human-v1 -seqlen 9 -cbsz 16 -s 2"
  "sac_s2|$NEW|--method SAC --environment door-human-v1 -s 2"
  "maqrlpd_s3|$NEW|--method MAQ+RLPD --environment door-human-v1 -seqlen 9 -cbsz 16 -s 3"
  "maqdsac_s3|$NEW|--method MAQ+DSAC --environment door-human-v1 -seqlen 8 -cbsz 8 -s 3"
  "maqiql_s3|$NEW|--method MAQ+IQL --environment door-human-v1 -seqlen 9 -cbsz 16 -s 3"
  "sac_s3|$NEW|--method SAC --environment door-human-v1 -s 3"
  "iql_s2|$NEW|--method IQL --environment door-human-v1 -s 2"
  "iql_s3|$NEW|--method IQL --environment door-human-v1 -s 3"
  "rlpd_s2|$NEW|--method RLPD --environment door-human-v1 -s 2 --set total_transitions=100000 --set resume_every=1"
  "rlpd_s3|$NEW|--method RLPD --environment door-human-v1 -s 3 --set total_transitions=100000 --set resume_every=1"
)

state() {  # done | running | stopped | new
  local name=$1 log=$RUNS/$1.log pid
  pid=$(cat "$RUNS/$name.pid" 2>/dev/null) || pid=""
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo running; return; fi
  [ -f "$log" ] || { echo new; return; }
  # the text after the last start line holds maq's closing summary once the run has finished
  if tr '\r' '\n' <"$log" | awk '/ commit [0-9a-f]+: maq train /{s=NR} /^run folder: /{d=NR} END{exit !(d>s)}'; then
    echo done
  else
    echo stopped
  fi
}

launch() {
  local name=$1 commit=$2 args=$3 wt=/work/wt-$2
  [ -d "$wt" ] || git worktree add -f "$wt" "$commit" >/dev/null 2>&1 || {
    echo "cannot make the worktree of $commit" >&2
    return 1
  }
  mkdir -p "$RUNS"
  printf '\n%s commit %s: maq train %s\n' "$(date -u +%FT%TZ)" "$commit" "$args" >>"$RUNS/$name.log"
  # shellcheck disable=SC2086  # the arguments are split on purpose
  (cd "$RUNS" && PYTHONPATH=$wt/src MAQ_ROOT=$RUNS MAQ_DATA_DIR=$DATA MUJOCO_GL=egl \
    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MAQ_NUM_THREADS=1 \
    nohup "$PY" -m maq.cli train $args >>"$RUNS/$name.log" 2>&1 &
    echo $! >"$RUNS/$name.pid")
}

once() {
  local running=0 waiting=0 entry name commit args s
  for entry in "${QUEUE[@]}"; do
    IFS='|' read -r name commit args <<<"$entry"
    [ "$(state "$name")" = running ] && running=$((running + 1))
  done
  for entry in "${QUEUE[@]}"; do
    IFS='|' read -r name commit args <<<"$entry"
    s=$(state "$name")
    if [ "$s" != done ] && [ "$s" != running ]; then
      if [ "$running" -lt "$SLOTS" ]; then
        launch "$name" "$commit" "$args" && running=$((running + 1)) && s="started"
      else
        waiting=$((waiting + 1))
      fi
    fi
    printf '%-15s %-8s %s\n' "$name" "$s" "$commit"
  done
  [ "$running" -gt 0 ] || [ "$waiting" -gt 0 ]
}

if [ "${1:-}" = "--watch" ]; then  # its record: RUNS/queue.log
  mkdir -p "$RUNS"
  while date -u +%FT%TZ && once; do sleep 300; done >>"$RUNS/queue.log" 2>&1
else
  once
fi
