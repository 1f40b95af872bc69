"""Copy what the report and the clips need from a run root into ``results/<task>/``.

    python results/publish.py --root /path/to/MAQ_ROOT --task door-human-v1 \
        --runs RLPD_MAQ/log/exp_seed1_sq9_k16/door-human-v1/RLPDMAQ ...

For each run folder (relative to ``--root``) it copies the resolved config, the training-time
evaluation table, ``progress.csv``, ``done.json`` and the best checkpoint (the one ``maq
evaluate`` picks); for runs that act in codes, the distillation's config, metrics and last
VQ-VAE and prior checkpoints. Replay buffers and resume files are never copied. The rows of the
task's evaluation CSV that ``results/<task>/`` lacks are added to its copy (a run root on a fresh
machine holds only that machine's rows; nothing published is dropped). The layout under
``results/<task>/`` mirrors the run root, so ``MAQ_ROOT=results/<task>`` makes ``maq clip`` and
``maq evaluate`` find the same files.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
from pathlib import Path

from maq.evaluation.select import best_row
from maq.runs import EVAL_TABLES, eval_rows, eval_table

HERE = Path(__file__).resolve().parent
SMALL = ("config.json", "config.yaml", "done.json", "progress.csv", "metrics.json", *EVAL_TABLES)


def copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)


def publish_run(root: Path, rel: Path, out: Path) -> None:
    run = root / rel
    if not (run / "done.json").exists():
        raise SystemExit(f"{run} has not finished")
    for name in SMALL:
        if (run / name).exists():
            copy(run / name, out / rel / name)
    best = best_row(eval_rows(eval_table(run)))["checkpoint"]
    copy(run / best, out / rel / best)
    distill = _distillation(root, rel)
    if distill is not None:
        publish_distillation(root, distill, out)


def _distillation(root: Path, rel: Path) -> Path | None:
    """The MAQ folder of a code-using run (``.../exp_seed1_sq9_k16[_tag]/<task>/...``)."""
    m = re.search(r"exp_(seed\d+_sq\d+_k\d+(?:_[^/]+)?)/([^/]+)/", str(rel) + "/")
    if m and not str(rel).startswith(("rlpd", "SAC")):
        return Path("MAQ/log") / f"{m.group(2)}_{m.group(1)}"
    m = re.search(r"MAQ_iql(seed\d+_sq\d+_k\d+(?:_.+)?)_seed\d+$", str(rel))
    if m:
        task = rel.parts[-2]
        return Path("MAQ/log") / f"{task}_{m.group(1)}"
    return None


def publish_distillation(root: Path, rel: Path, out: Path) -> None:
    run = root / rel
    for name in SMALL:
        if (run / name).exists():
            copy(run / name, out / rel / name)
    for pattern in ("model_*.pth", "prior_model_*.pth"):
        files = [p for p in run.glob(pattern) if pattern != "model_*.pth" or
                 not p.name.startswith("prior_")]  # fmt: skip
        last = max(files, key=lambda p: int(p.name.split("_")[-2]))
        copy(last, out / rel / last.name)


def merge_rows(src: Path, dst: Path) -> int:
    """Append the rows of evaluation CSV ``src`` that ``dst`` lacks (atomically); how many."""

    def read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
        if not path.exists():
            return [], []
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            return list(reader.fieldnames or []), list(reader)

    (old_cols, old), (new_cols, new) = read(dst), read(src)
    cols = old_cols + [c for c in new_cols if c not in old_cols]
    seen = {tuple(r.get(c, "") for c in cols) for r in old}
    added = [r for r in new if tuple(r.get(c, "") for c in cols) not in seen]
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=cols, restval="")
        writer.writeheader()
        writer.writerows(old + added)
    os.replace(tmp, dst)
    return len(added)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="the runs' MAQ_ROOT")
    parser.add_argument("--task", default="door-human-v1")
    parser.add_argument("--runs", nargs="+", required=True, help="run folders, relative to --root")
    parser.add_argument("--out", default="", help="default results/<task's short name>")
    args = parser.parse_args()
    root = Path(args.root)
    out = Path(args.out) if args.out else HERE / args.task.split("-")[0]
    for rel in args.runs:
        publish_run(root, Path(rel), out)
        print(f"published {rel}")
    csv_path = root / "evaluation_results" / f"agent_performance_{args.task}.csv"
    if csv_path.exists():
        added = merge_rows(csv_path, out / csv_path.name)
        print(f"published {csv_path.name}: {added} new rows")


if __name__ == "__main__":
    main()
