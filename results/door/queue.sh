#!/usr/bin/env bash
# The door reproduction's training queue: keeps at most two runs training, in the order below.
#
#   bash results/door/queue.sh           # start what fits now, print each run's state
#   nohup bash results/door/queue.sh --watch &   # the same every 5 minutes until all are done
#
# Each run trains from a git worktree of its recorded commit (/work/wt-<commit>, made if missing,
# PYTHONPATH=<worktree>/src so later edits cannot change it), one torch thread (THREADS), nohup, under RUNS
# (its MAQ_ROOT), with its log in RUNS/<name>.log. A run that was stopped (the session ended, a
# kill) resumes from its last resume point with the same command. A run is done when its log
# shows maq's closing "run folder:" line after its last start. Run from the repository root.
set -uo pipefail
RUNS=${RUNS:-/work/runs/door}
DATA=${MAQ_DATA_DIR:-/work/shared/data/adroit_human}
PY=${PY:-$PWD/.venv/bin/python}
SLOTS=${SLOTS:-2}  # runs training at once
THREADS=${THREADS:-1}  # torch threads per run (SLOTS=1 THREADS=2: one run alone on both cores)
NEW=2c93402  # runs not yet started train at this commit (CPU numerics as at 320c0fe)
STAGED=827a5e1  # runs trained in stages (--stop_after, the same numerics as $NEW)

# name | commit | maq train arguments | the run folder under RUNS (published to results/door/ once
# done: a published run counts as done on a fresh machine). A machine lasts one session (about 3
# hours), so the queue holds runs that finish inside one on one core: seed 1 first, then the L
# ablation, then seeds 2 and 3. RLPD's budget is 30k env steps, the first 10k random (the preset's
# warmup_transitions) and 20k at UTD 20 (~0.3 s each on one core): what a session fits; the issue's
# floor of 100k takes about 8 hours. A resume point at every evaluation (5k steps). MAQ+IQL and IQL
# (1M offline + 1M online iterations, 3-5 hours on one core) train in stages carried between
# machines (carry_save below): MAQ+IQL's offline phase, then its online phase; IQL's offline phase
# in two halves, then its online phase (~2.3 hours on one core: first in its session).
QUEUE=(
  "maqrlpd_s1|b536e8b|--method MAQ+RLPD --environment door-human-v1 -seqlen 9 -cbsz 16 -s 1|RLPD_MAQ/log/exp_seed1_sq9_k16/door-human-v1/RLPDMAQ"
  "maqdsac_s1|fae02c4|--method MAQ+DSAC --environment door-human-v1 -seqlen 8 -cbsz 8 -s 1|DSAC_MAQ/log/exp_seed1_sq8_k8/door-human-v1/DSACMAQ"
  "sac_s1|320c0fe|--method SAC --environment door-human-v1 -s 1|SAC/log/door-human-v1/SAC_seed1"
  "rlpd30k_s1|$NEW|--method RLPD --environment door-human-v1 -s 1 --set total_transitions=30000 --set resume_every=1|rlpd/log/door-human-v1/RLPD_seed1"
  "maqiql_s1_offline|$STAGED|--method MAQ+IQL --environment door-human-v1 -seqlen 9 -cbsz 16 -s 1 --stop_after 1000000|IQL/log/door-human-v1/MAQ_iqlseed1_sq9_k16_seed1"
  "maqrlpd_L6_s1|$NEW|--method MAQ+RLPD --environment door-human-v1 -seqlen 6 -cbsz 16 -s 1|RLPD_MAQ/log/exp_seed1_sq6_k16/door-human-v1/RLPDMAQ"
  "maqrlpd_L3_s1|$NEW|--method MAQ+RLPD --environment door-human-v1 -seqlen 3 -cbsz 16 -s 1|RLPD_MAQ/log/exp_seed1_sq3_k16/door-human-v1/RLPDMAQ"
  "maqrlpd_L1_s1|$NEW|--method MAQ+RLPD --environment door-human-v1 -seqlen 1 -cbsz 16 -s 1|RLPD_MAQ/log/exp_seed1_sq1_k16/door-human-v1/RLPDMAQ"
  "maqiql_s1|$STAGED|--method MAQ+IQL --environment door-human-v1 -seqlen 9 -cbsz 16 -s 1|IQL/log/door-human-v1/MAQ_iqlseed1_sq9_k16_seed1"
  "iql_s1_a|$STAGED|--method IQL --environment door-human-v1 -s 1 --stop_after 500000|IQL/log/door-human-v1/iql_seed1"
  "iql_s1_b|$STAGED|--method IQL --environment door-human-v1 -s 1 --stop_after 1000000|IQL/log/door-human-v1/iql_seed1"
  "iql_s1|$STAGED|--method IQL --environment door-human-v1 -s 1|IQL/log/door-human-v1/iql_seed1"
  "maqrlpd_s2|$NEW|--method MAQ+RLPD --environment door-human-v1 -seqlen 9 -cbsz 16 -s 2|RLPD_MAQ/log/exp_seed2_sq9_k16/door-human-v1/RLPDMAQ"
  "maqdsac_s2|$NEW|--method MAQ+DSAC --environment door-human-v1 -seqlen 8 -cbsz 8 -s 2|DSAC_MAQ/log/exp_seed2_sq8_k8/door-human-v1/DSACMAQ"
  "sac_s2|$NEW|--method SAC --environment door-human-v1 -s 2|SAC/log/door-human-v1/SAC_seed2"
  "rlpd30k_s2|$NEW|--method RLPD --environment door-human-v1 -s 2 --set total_transitions=30000 --set resume_every=1|rlpd/log/door-human-v1/RLPD_seed2"
  "maqrlpd_s3|$NEW|--method MAQ+RLPD --environment door-human-v1 -seqlen 9 -cbsz 16 -s 3|RLPD_MAQ/log/exp_seed3_sq9_k16/door-human-v1/RLPDMAQ"
  "maqdsac_s3|$NEW|--method MAQ+DSAC --environment door-human-v1 -seqlen 8 -cbsz 8 -s 3|DSAC_MAQ/log/exp_seed3_sq8_k8/door-human-v1/DSACMAQ"
  "sac_s3|$NEW|--method SAC --environment door-human-v1 -s 3|SAC/log/door-human-v1/SAC_seed3"
  "rlpd30k_s3|$NEW|--method RLPD --environment door-human-v1 -s 3 --set total_transitions=30000 --set resume_every=1|rlpd/log/door-human-v1/RLPD_seed3"
  "maqiql_s2_offline|$STAGED|--method MAQ+IQL --environment door-human-v1 -seqlen 9 -cbsz 16 -s 2 --stop_after 1000000|IQL/log/door-human-v1/MAQ_iqlseed2_sq9_k16_seed2"
  "maqiql_s2|$STAGED|--method MAQ+IQL --environment door-human-v1 -seqlen 9 -cbsz 16 -s 2|IQL/log/door-human-v1/MAQ_iqlseed2_sq9_k16_seed2"
  "iql_s2_a|$STAGED|--method IQL --environment door-human-v1 -s 2 --stop_after 500000|IQL/log/door-human-v1/iql_seed2"
  "iql_s2_b|$STAGED|--method IQL --environment door-human-v1 -s 2 --stop_after 1000000|IQL/log/door-human-v1/iql_seed2"
  "iql_s2|$STAGED|--method IQL --environment door-human-v1 -s 2|IQL/log/door-human-v1/iql_seed2"
  "maqiql_s3_offline|$STAGED|--method MAQ+IQL --environment door-human-v1 -seqlen 9 -cbsz 16 -s 3 --stop_after 1000000|IQL/log/door-human-v1/MAQ_iqlseed3_sq9_k16_seed3"
  "maqiql_s3|$STAGED|--method MAQ+IQL --environment door-human-v1 -seqlen 9 -cbsz 16 -s 3|IQL/log/door-human-v1/MAQ_iqlseed3_sq9_k16_seed3"
  "iql_s3_a|$STAGED|--method IQL --environment door-human-v1 -s 3 --stop_after 500000|IQL/log/door-human-v1/iql_seed3"
  "iql_s3_b|$STAGED|--method IQL --environment door-human-v1 -s 3 --stop_after 1000000|IQL/log/door-human-v1/iql_seed3"
  "iql_s3|$STAGED|--method IQL --environment door-human-v1 -s 3|IQL/log/door-human-v1/iql_seed3"
)

state() {  # done | running | stopped | new   (arguments: name, published run folder)
  local name=$1 log=$RUNS/$1.log pid
  [ -f "results/door/$2/done.json" ] && { echo done; return; }
  pid=$(cat "$RUNS/$name.pid" 2>/dev/null) || pid=""
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo running; return; fi
  [ -f "$log" ] || { echo new; return; }
  # the text after the last start line holds maq's closing summary once the run has finished,
  # or the line of a --stop_after stage that reached its step
  if tr '\r' '\n' <"$log" | awk '/ commit [0-9a-f]+: maq train /{s=NR} /^run folder: /{d=NR} END{exit !(d>s)}'; then
    echo done
  elif tr '\r' '\n' <"$log" | awk '/ commit [0-9a-f]+: maq train /{s=NR} /stopped at training step [0-9]+ [(]--stop_after/{d=NR} END{exit !(d>s)}'; then
    echo paused
  else
    echo stopped
  fi
}

# A run that needs more than one machine (IQL, MAQ+IQL) trains in stages: a queue entry with
# --stop_after ends at a resume point (the end of the offline phase holds no online data: ~5 MB),
# `carry_save` copies the run folder without its checkpoints to results/door/carry/ (commit it),
# and on a fresh machine `restore` puts it back before the entry without --stop_after continues.
# Checkpoints stay behind: maq evaluates the best online one, made on the machine that finishes.
# A folder is carried at the step its stage stopped at, and again when a later stage stops (not
# while a later stage trains in it: its resume point then holds online data).
last_step() { tail -n 1 "$1/experiment_data.csv" 2>/dev/null | cut -d, -f1; }
carry_save() {  # arguments: run folder, the step its stage stopped at
  local dir=$1 step=$2 to=results/door/carry/$1
  [ "$(last_step "$RUNS/$dir")" = "$step" ] || return 0
  [ "$(last_step "$to")" = "$step" ] && [ -f "$to/resume.pt" ] && return 0
  mkdir -p "$to" && find "$RUNS/$dir" -maxdepth 1 -type f ! -name 'checkpoint_*' \
    -exec cp -p {} "$to/" \; && echo "carried $dir at step $step to $to: commit it"
}

restore() {  # the published distillations and a carried run folder, where this machine lacks them
  local dir=$1 d
  for d in results/door/MAQ/log/*/; do
    [ -d "$RUNS/MAQ/log/$(basename "$d")" ] || { mkdir -p "$RUNS/MAQ/log" && cp -rp "$d" "$RUNS/MAQ/log/"; }
  done
  if [ ! -d "$RUNS/$dir" ] && [ -f "results/door/carry/$dir/resume.pt" ]; then
    mkdir -p "$RUNS/$dir" && cp -p "results/door/carry/$dir"/* "$RUNS/$dir/"
  fi
}

launch() {
  local name=$1 commit=$2 args=$3 dir=$4 wt=/work/wt-$2
  [ -d "$wt" ] || git worktree add -f "$wt" "$commit" >/dev/null 2>&1 || {
    echo "cannot make the worktree of $commit" >&2
    return 1
  }
  mkdir -p "$RUNS"
  restore "$dir"
  printf '\n%s commit %s: maq train %s\n' "$(date -u +%FT%TZ)" "$commit" "$args" >>"$RUNS/$name.log"
  # exec: the recorded pid is the training process itself (kill it to stop the run)
  # shellcheck disable=SC2086  # the arguments are split on purpose
  (cd "$RUNS" && PYTHONPATH=$wt/src MAQ_ROOT=$RUNS MAQ_DATA_DIR=$DATA MUJOCO_GL=egl \
    OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS MAQ_NUM_THREADS=$THREADS \
    exec nohup "$PY" -m maq.cli train $args >>"$RUNS/$name.log" 2>&1 </dev/null) &
  echo $! >"$RUNS/$name.pid"
}

once() {
  local running=0 waiting=0 entry name commit args dir s
  for entry in "${QUEUE[@]}"; do
    IFS='|' read -r name commit args dir <<<"$entry"
    case "$(state "$name" "$dir")" in
      running) running=$((running + 1)) ;;
      paused) carry_save "$dir" "$(sed -n 's/.*--stop_after \([0-9]*\).*/\1/p' <<<"$args")" ;;
    esac
  done
  local pending=" "  # run folders whose earlier stage is not finished: their next stage waits
  for entry in "${QUEUE[@]}"; do
    IFS='|' read -r name commit args dir <<<"$entry"
    s=$(state "$name" "$dir")
    if [[ "$pending" == *" $dir "* ]] && [ "$s" != done ]; then
      s="waits"  # (one owner per run folder: a stage starts when the one before it has stopped)
    elif [ "$s" = new ] || [ "$s" = stopped ]; then
      if [ "$running" -lt "$SLOTS" ]; then
        launch "$name" "$commit" "$args" "$dir" && running=$((running + 1)) && s="started"
      else
        waiting=$((waiting + 1))
      fi
    fi
    case "$s" in done | paused) ;; *) pending="$pending$dir " ;; esac
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
