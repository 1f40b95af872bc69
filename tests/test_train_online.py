"""The online loop (RLPD, MAQ+RLPD, MAQ+DSAC) and the SB3 SAC baseline on real door envs.

Smoke presets only: each run takes a few seconds. MAQ runs share one smoke distillation per
module (the same root), as real runs share theirs.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from maq import methods
from maq.methods import get_method
from maq.policy import Policy
from maq.runs import EVAL_COLUMNS, load_checkpoint
from maq.spec import RunSpec

pytestmark = pytest.mark.door
ONLINE = ("RLPD", "MAQ+RLPD", "MAQ+DSAC", "SAC")


def _train(spec: RunSpec) -> Path:
    return methods.train(spec)


def _rows(run_dir: Path, spec: RunSpec) -> list[dict[str, str]]:
    with (run_dir / get_method(spec.method).eval_csv).open(newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == EVAL_COLUMNS
        return list(reader)


@pytest.mark.parametrize("method", ONLINE)
def test_smoke_run_writes_the_documented_files(spec_for, method):
    spec = spec_for(method)
    run_dir = _train(spec)
    assert run_dir == get_method(method).run_dir(spec)
    names = {p.name for p in run_dir.iterdir()}
    assert {"config.json", "done.json", "progress.csv"} <= names
    assert any(n.startswith("events.out.tfevents") for n in names)
    assert "resume.pt" not in names
    rows = _rows(run_dir, spec)
    assert [int(r["training_step"]) for r in rows] == sorted(int(r["training_step"]) for r in rows)
    assert len(rows) == 2 and all(np.isfinite(float(r["episode_reward"])) for r in rows)
    for row in rows:
        checkpoint = run_dir / row["checkpoint"]
        assert checkpoint.exists()
        pattern = "SAC_model_" if method == "SAC" else "model_"
        assert checkpoint.name.startswith(f"{pattern}{row['training_step']}_")
    done = json.loads((run_dir / "done.json").read_text())
    assert done["method"] == method
    if method != "SAC":  # the smoke presets run eager: no compiled graph, no native kernels
        assert done["compiled"] is False
    config = json.loads((run_dir / "config.json").read_text())
    assert config["seed"] == 1 and config["preset"] == "smoke"
    # The best checkpoint loads as a deterministic Policy that outputs one (A,) action.
    policy = methods.load_policy(spec, run_dir / rows[-1]["checkpoint"])
    assert isinstance(policy, Policy)
    policy.reset()
    obs = np.zeros(39, np.float32)
    action = policy.act(obs)
    assert action.shape == (28,)
    if method != "SAC" and not method.startswith("MAQ"):
        np.testing.assert_array_equal(action, policy.act(obs))


def test_macro_run_counts_primitive_steps_and_budget_in_macro_transitions(spec_for):
    spec = spec_for("MAQ+RLPD")
    run_dir = _train(spec)
    done = json.loads((run_dir / "done.json").read_text())
    loop = done["config"]["loop"]
    assert done["transitions"] == loop["total_transitions"]
    assert done["primitive_steps"] > 8 * done["transitions"]  # L = 9, a few partial macros
    assert int(_rows(run_dir, spec)[-1]["training_step"]) == done["primitive_steps"]


@pytest.mark.parametrize("method", ["RLPD", "MAQ+RLPD"])
def test_same_seed_twice_gives_the_same_csv(spec_for, method):
    first = _rows(_train(spec_for(method, tag="twin_a")), spec_for(method))
    second = _rows(_train(spec_for(method, tag="twin_b")), spec_for(method))
    assert first == second


def _compiled_rlpd(monkeypatch) -> None:
    """RLPD's smoke preset on the compiled path: the critic loss's gradient from
    ``torch.func.grad`` (maq.nn.Gradients). ``torch.compile`` is the identity here (Inductor's
    compile time is longer than the run; tests/test_agents_sac.py compares compiled and eager)."""
    from maq import presets

    monkeypatch.setattr(torch, "compile", lambda fn, **_: fn)
    smoke = presets.PRESETS["rlpd"]["smoke"]
    learner = dataclasses.replace(smoke.learner, compile="on")
    monkeypatch.setitem(
        presets.PRESETS["rlpd"], "smoke", dataclasses.replace(smoke, learner=learner)
    )
    monkeypatch.setitem(
        methods.METHODS, "RLPD",
        dataclasses.replace(methods.METHODS["RLPD"], presets=presets.PRESETS["rlpd"]),
    )  # fmt: skip


@pytest.mark.parametrize("method", ["RLPD", "RLPD/compiled", "MAQ+DSAC", "SAC"])
def test_killed_run_resumes_to_the_uninterrupted_result(spec_for, method, monkeypatch):
    compiled = method == "RLPD/compiled"
    if compiled:
        _compiled_rlpd(monkeypatch)
        method = "RLPD"
    tag = "_compiled" if compiled else ""  # runs of one module share a root: separate folders
    reference_spec = spec_for(method, tag=f"whole{tag}")
    reference = _rows(_train(reference_spec), reference_spec)
    done = json.loads((get_method(method).run_dir(reference_spec) / "done.json").read_text())
    assert method == "SAC" or done["compiled"] is compiled
    module = "maq.train.sb3_sac" if method == "SAC" else "maq.train.online"
    import importlib

    mod = importlib.import_module(module)
    real = mod.evaluate_policy
    calls = []

    def crash_on_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)

    spec = spec_for(method, tag=f"killed{tag}")
    monkeypatch.setattr(mod, "evaluate_policy", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        _train(spec)
    run_dir = get_method(method).run_dir(spec)
    assert (run_dir / "resume.pt").exists() and not (run_dir / "done.json").exists()
    assert len(_rows(run_dir, spec)) == 1
    monkeypatch.setattr(mod, "evaluate_policy", real)
    _train(spec)
    assert _rows(run_dir, spec) == reference  # same steps and scores, no duplicated rows
    if method != "SAC":
        last = reference[-1]["checkpoint"]
        ref_dir = get_method(method).run_dir(reference_spec)
        a = load_checkpoint(ref_dir / last)["state"]["learner"]["actor"]
        b = load_checkpoint(run_dir / last)["state"]["learner"]["actor"]
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_finished_run_is_not_retrained_unless_overwrite(spec_for):
    spec = spec_for("RLPD", tag="finished")
    run_dir = _train(spec)
    stamp = (run_dir / "done.json").stat().st_mtime_ns
    _train(spec)
    assert (run_dir / "done.json").stat().st_mtime_ns == stamp
    _train(dataclasses.replace(spec, overwrite=True))
    assert (run_dir / "done.json").stat().st_mtime_ns != stamp
