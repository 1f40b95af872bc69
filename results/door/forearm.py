"""How each door agent turns its forearm: a number for the paper's "RLPD opens with a backhand".

    MAQ_ROOT=results/door MAQ_DATA_DIR=../shared/data/adroit_human \\
        .venv/bin/python results/door/forearm.py --episodes 20 \\
        --run MAQ+RLPD <checkpoint> --run RLPD <checkpoint> ...

Door's observation starts with the arm's rotation joints after the slide ``ARTz`` (``qpos[1:-2]``
of gymnasium-robotics' ``AdroitHandDoorEnv``): 0 ``ARRx``, 1 ``ARRy``, 2 ``ARRz`` (the forearm's
roll; its limit is -1 to 2 rad, which a saturated actuator overshoots to about 2.8); 28 is the door
hinge angle and 35:38 the palm-to-handle vector. For the human demos (held-out test and training
split) and for deterministic episodes of each checkpoint (seeds ``episode_seed(seed + 100, i)``,
apart from the evaluator's) it prints the forearm roll where the palm comes closest to the handle
(the grasp) and its mean while the door swings open (hinge above 0.2 rad), as a markdown table
(radians; mean ± std over episodes).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from maq.data import load_trajectories
from maq.data.resolve import resolve_datasets
from maq.envs import get_task, make_env
from maq.methods import load_policy
from maq.rollout import episode_seed, run_episode
from maq.runs import repo_root
from maq.spec import RunSpec

ROLL, HINGE, PALM_TO_HANDLE = 2, 28, slice(35, 38)
OPENING = 0.2  # rad of door hinge: the door is swinging


def posture(states: np.ndarray) -> tuple[float, float]:
    """(forearm roll at the grasp, mean roll while the door opens; nan if it never opens)."""
    grasp = int(np.argmin(np.linalg.norm(states[:, PALM_TO_HANDLE], axis=1)))
    opening = states[:, HINGE] > OPENING
    return float(states[grasp, ROLL]), float(
        states[opening, ROLL].mean()
    ) if opening.any() else np.nan


def summarise(name: str, rows: list[tuple[float, float]]) -> str:
    grasp, opening = np.array(rows).T
    opened = ~np.isnan(opening)
    during = f"{opening[opened].mean():.2f} ± {opening[opened].std():.2f}" if opened.any() else "—"
    return (
        f"| {name} | {len(rows)} | {grasp.mean():.2f} ± {grasp.std():.2f} | {during} "
        f"| {opened.mean():.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", nargs=2, action="append", default=[], metavar=("METHOD", "CKPT"))
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("-s", "--seed", type=int, default=1)
    args = parser.parse_args()
    root = Path(os.environ.get("MAQ_ROOT", repo_root()))
    task = get_task("door-human-v1")
    train, test = resolve_datasets(task, args.seed, root, generate=False)
    print(
        "| episodes of | n | forearm roll at the grasp (rad) | roll while the door opens | opened |"
    )
    print("|---|---|---|---|---|")
    for name, path in (("held-out test", test), ("training", train)):
        demos = [posture(t["observations"]) for t in load_trajectories(path)]
        print(summarise(f"Human ({name} demos)", demos))
    env = make_env(task)
    for method, checkpoint in args.run:
        spec = RunSpec(method=method, seed=args.seed, root=root)
        policy = load_policy(spec, Path(checkpoint))
        episodes = [
            run_episode(env, policy, episode_seed(args.seed + 100, i)) for i in range(args.episodes)
        ]
        print(summarise(method, [posture(e.states) for e in episodes]))
    env.close()


if __name__ == "__main__":
    main()
