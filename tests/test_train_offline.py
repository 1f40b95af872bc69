"""The offline-to-online loop (IQL, MAQ+IQL) on the real door split, smoke presets only.

Runs share one root per module (MAQ+IQL runs share its smoke distillation, as real runs do); a run
that finished is not retrained, so tests that only read a finished run cost nothing.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import maq.train.offline as offline
from maq import methods
from maq.data import load_trajectories
from maq.methods import get_method
from maq.policy import Policy
from maq.presets import PRESETS
from maq.rollout import evaluate_policy
from maq.runs import EVAL_COLUMNS, load_checkpoint
from maq.spec import RunSpec

pytestmark = pytest.mark.door
METHODS = ("IQL", "MAQ+IQL")


def _train(spec: RunSpec) -> Path:
    return methods.train(spec)


def _rows(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "experiment_data.csv").open(newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == EVAL_COLUMNS
        return list(reader)


@pytest.mark.parametrize("method", METHODS)
def test_smoke_run_writes_the_documented_files(spec_for, method):
    spec = spec_for(method)
    run_dir = _train(spec)
    assert run_dir == get_method(method).run_dir(spec)
    expected = "iql_seed1" if method == "IQL" else "MAQ_iqlseed1_sq9_k16_seed1"
    assert run_dir.name == expected and run_dir.parent.parent.parent.name == "IQL"
    names = {p.name for p in run_dir.iterdir()}
    assert {"config.yaml", "done.json", "progress.csv", "experiment_data.csv"} <= names
    assert any(n.startswith("events.out.tfevents") for n in names)
    assert "resume.pt" not in names
    rows = _rows(run_dir)
    steps = [int(r["training_step"]) for r in rows]
    assert steps == sorted(steps) and len(set(steps)) == len(steps)
    phases = [r["phase"] for r in rows]
    assert phases[0] == "offline" and phases[-1] == "online"
    assert phases == sorted(phases, key=lambda p: p == "online")  # offline rows come first
    for row in rows:
        assert row["checkpoint"] == f"checkpoint_{row['training_step']}.pt"
        assert (run_dir / row["checkpoint"]).exists()
        assert np.isfinite(float(row["episode_reward"]))
    done = json.loads((run_dir / "done.json").read_text())
    loop = done["config"]["loop"]
    assert done["iterations"] == loop["offline_steps"] + loop["online_steps"]
    assert steps[-1] == done["training_step"] == loop["offline_steps"] + done["env_steps"]
    config = (run_dir / "config.yaml").read_text()
    assert f"method: {method}" in config and "expectile: 0.7" in config
    if method == "MAQ+IQL":  # distilled first; the x-axis counts primitive steps online
        assert (Path(done["config"]["distillation"]) / "done.json").exists()
        assert done["env_steps"] > 8 * loop["online_steps"]
    else:
        assert done["env_steps"] == loop["online_steps"]


@pytest.mark.parametrize("method", METHODS)
def test_checkpoint_rebuilds_the_policy_that_was_evaluated(spec_for, method):
    """load_policy + the evaluator's rollout reproduce the training-time evaluation exactly."""
    spec = spec_for(method)
    run_dir = _train(spec)
    row = _rows(run_dir)[-1]
    policy = methods.load_policy(spec, run_dir / row["checkpoint"])
    assert isinstance(policy, Policy)
    loop = get_method(method).presets["smoke"].loop
    summary, episodes = evaluate_policy(spec.env_id, policy, loop.eval_episodes,
                                        spec.seed + loop.eval_seed_offset)  # fmt: skip
    assert summary["episode_reward"] == pytest.approx(float(row["episode_reward"]), abs=1e-9)
    # rewards are counted once per primitive step, macro agents included
    assert len(episodes[0].rewards) == episodes[0].length == 200


def test_state_statistics_come_from_the_train_split_and_are_saved(spec_for, door_split):
    run_dir = _train(spec_for("IQL"))
    obs = np.concatenate([t["observations"] for t in load_trajectories(door_split[0])])
    obs = obs.astype(np.float64)
    nets = load_checkpoint(run_dir / _rows(run_dir)[0]["checkpoint"])["state"]["policy"]["nets"]
    np.testing.assert_allclose(nets["obs_mean"].numpy(), obs.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(nets["obs_std"].numpy(), obs.std(0) + 1e-3, rtol=1e-5, atol=1e-6)
    macro = _train(spec_for("MAQ+IQL"))  # MAQ+IQL: normalize False (reference-spec §8.2)
    nets = load_checkpoint(macro / _rows(macro)[0]["checkpoint"])["state"]["policy"]["nets"]
    assert torch.equal(nets["obs_mean"], torch.zeros(39))
    assert torch.equal(nets["obs_std"], torch.ones(39))


def test_offline_data_survives_the_online_phase(spec_for, door_split, monkeypatch):
    trajs = load_trajectories(door_split[0])
    n_offline = sum(len(t["rewards"]) for t in trajs)
    smoke = PRESETS["iql"]["smoke"]
    small = dataclasses.replace(smoke.loop, buffer_capacity=n_offline + 60)
    monkeypatch.setitem(PRESETS["iql"], "smoke", dataclasses.replace(smoke, loop=small))
    runs = []
    real = offline._iterate

    def keep(run, envs, eval_env):
        runs.append(run)
        return real(run, envs, eval_env)

    monkeypatch.setattr(offline, "_iterate", keep)
    _train(spec_for("IQL", tag="small_buffer"))
    sampler = runs[0].sampler
    human, online = sampler.first, sampler.second
    np.testing.assert_array_equal(human.observations,
                                  np.concatenate([t["observations"] for t in trajs]))  # fmt: skip
    np.testing.assert_array_equal(human.actions, np.concatenate([t["actions"] for t in trajs]))
    assert len(human) == n_offline
    # 250 online steps went through a 60-slot FIFO; the first episode ended by its time limit
    assert len(online) == online.capacity == 60
    assert online.terminals.sum() == 0 and online.truncations.sum() == 1
    batch = sampler.sample(4096)
    assert 0 < (batch.masks == 1).mean() and batch.masks.min() == 1.0  # truncations bootstrap


@pytest.mark.parametrize(("method", "crash_at"), [("IQL", 3), ("IQL", 6), ("MAQ+IQL", 5)])
def test_killed_run_resumes_to_the_uninterrupted_result(spec_for, method, crash_at, monkeypatch):
    """Evaluation ``crash_at`` raises: resume points in the offline phase (IQL 3) and at an
    episode end in the online phase (IQL 6, MAQ+IQL 5) must both give the uninterrupted run."""
    reference_spec = spec_for(method, tag="whole")
    reference_dir = _train(reference_spec)
    reference = _rows(reference_dir)
    real = offline.evaluate_policy
    calls = []

    def crash(*args, **kwargs):
        calls.append(1)
        if len(calls) == crash_at:
            raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)

    spec = spec_for(method, tag=f"killed{crash_at}")
    monkeypatch.setattr(offline, "evaluate_policy", crash)
    with pytest.raises(KeyboardInterrupt):
        _train(spec)
    run_dir = get_method(method).run_dir(spec)
    assert (run_dir / "resume.pt").exists() and not (run_dir / "done.json").exists()
    assert len(_rows(run_dir)) == crash_at - 1
    loop_state = load_checkpoint(run_dir / "resume.pt")["state"]["loop"]
    offline_steps = get_method(method).presets["smoke"].loop.offline_steps
    assert (loop_state["iteration"] > offline_steps) == (crash_at > 3)  # an online resume point
    assert loop_state["needs_reset"]  # written between episodes
    monkeypatch.setattr(offline, "evaluate_policy", real)
    _train(spec)
    assert _rows(run_dir) == reference  # same steps and scores, no duplicated rows
    last = reference[-1]["checkpoint"]
    a = load_checkpoint(reference_dir / last)["state"]["policy"]["nets"]
    b = load_checkpoint(run_dir / last)["state"]["policy"]["nets"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_finished_run_is_not_retrained_unless_overwrite(spec_for):
    spec = spec_for("IQL")
    run_dir = _train(spec)
    stamp = (run_dir / "done.json").stat().st_mtime_ns
    _train(spec)
    assert (run_dir / "done.json").stat().st_mtime_ns == stamp
