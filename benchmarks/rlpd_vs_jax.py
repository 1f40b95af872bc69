"""RLPD update per env step: maq against ikostrikov/rlpd's JAX ``SACLearner.update``, side by side.

    # CPU (the anchor's venv from ../shared/anchors/rlpd_jax/setup_cpu.sh):
    .venv/bin/python benchmarks/rlpd_vs_jax.py --rounds 3 \
        --anchor_python /tmp/rlpd_anchor_venv/bin/python --anchor ../shared/anchors/rlpd_jax
    # GPU machine (the anchor carried as .anchors/rlpd_jax, see its README):
    python benchmarks/rlpd_vs_jax.py --device cuda --anchor .anchors/rlpd_jax --rounds 1

Both sides run the RLPD paper preset on door-sized networks (10 LayerNorm critics, 2 min-Qs,
256×256, batch 256 per critic step, S = 39, A = 28). maq's figure is one env step's work: the
mixed sample (half human, numpy) moved to the device and ``SAC.update`` (``benchmarks/
online_update.py``); the anchor's is one ``agent.update`` call on a fresh host batch. Rounds
alternate the two (maq, anchor, maq, ...), each in a fresh process on the same cores, so a change
of load hits both; the table gives each round's medians and the ratio maq / anchor.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run_maq(utd: int, threads: int, compile_mode: str, device: str, repeats: int) -> dict:
    cmd = [sys.executable, str(HERE / "online_update.py"), "--one",
           f"{utd},{threads},{compile_mode},{device}", "--repeats", str(repeats)]  # fmt: skip
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_anchor(python: str, anchor: Path, utd: int, threads: int, repeats: int, budget: int):
    env = dict(os.environ)
    if threads:  # XLA's CPU thread pool uses every core the process may use
        env["XLA_FLAGS"] = (
            f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={threads}"
        )
    cmd = [python, str(anchor / "anchor_rlpd.py"), "--utd", str(utd), "--repeats", str(repeats),
           "--budget", str(budget)]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise SystemExit(f"the anchor printed nothing:\n{out.stderr[-2000:]}")
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utd", type=int, nargs="+", default=[20, 1])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of both sides")
    parser.add_argument("--compile", default="on", choices=["on", "off"])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--anchor", default="../shared/anchors/rlpd_jax")
    parser.add_argument("--anchor_python", default="python3")
    parser.add_argument("--budget", type=int, default=300, help="anchor seconds per call")
    args = parser.parse_args()
    print(f"device {args.device}, {args.threads} CPU threads, load {os.getloadavg()[0]:.1f}")
    print("| UTD | round | maq ms per env step | anchor ms per update | maq / anchor |")
    print("|---|---|---|---|---|")
    for utd in args.utd:
        for round_ in range(1, args.rounds + 1):
            maq = run_maq(utd, args.threads, args.compile, args.device, args.repeats)
            jax = run_anchor(args.anchor_python, Path(args.anchor), utd,
                             args.threads if args.device == "cpu" else 0, args.repeats,
                             args.budget)  # fmt: skip
            ratio = maq["ms_per_env_step"] / jax["median_ms"]
            print(f"| {utd} | {round_} | {maq['ms_per_env_step']:.1f} | {jax['median_ms']:.1f} | "
                  f"{ratio:.2f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
