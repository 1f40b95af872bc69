"""The seed's .pkl format: round trip, every illegal case, the restricted unpickler, the checker."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from maq.cli import main
from maq.data import load_trajectories, save_trajectories
from maq.errors import DatasetError
from tests.conftest import make_fake_trajectories

REPO = Path(__file__).resolve().parents[1]


def test_round_trip(tmp_path: Path, fake_trajectories) -> None:
    path = save_trajectories(fake_trajectories, tmp_path / "d.pkl")
    loaded = load_trajectories(path, obs_dim=39, act_dim=28)
    assert len(loaded) == len(fake_trajectories)
    for a, b in zip(loaded, fake_trajectories, strict=True):
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])


def _write(tmp_path: Path, obj, name: str = "d.pkl") -> Path:
    path = tmp_path / name
    path.write_bytes(pickle.dumps(obj))
    return path


def _mutated(**changes):
    trajs = make_fake_trajectories(n=3)
    for key, value in changes.items():
        if value is None:
            del trajs[1][key]
        else:
            trajs[1][key] = value
    return trajs


ILLEGAL = {
    "empty list": ([], "contains no trajectories"),
    "not a list": ({"observations": 1}, "expected a list"),
    "missing key": (_mutated(rewards=None), "trajectory 1: missing required key(s) rewards"),
    "empty array": (_mutated(actions=np.zeros((0, 28), np.float32)), "key 'actions': is empty"),
    "1-D actions": (_mutated(actions=np.zeros(21, np.float32)), "key 'actions': expected a 2-D"),
    "2-D rewards": (
        _mutated(rewards=np.zeros((21, 2), np.float32)),
        "key 'rewards': expected a 1-D",
    ),
    "length mismatch": (
        _mutated(rewards=np.zeros(5, np.float32)),
        "key 'rewards': has 5 steps but 'observations' has 21",
    ),
    "next_obs dims": (
        _mutated(next_observations=np.zeros((21, 38), np.float32)),
        "key 'next_observations': has dim 38 but 'observations' has dim 39",
    ),
    "nan": (_mutated(rewards=np.full(21, np.nan, np.float32)), "key 'rewards': contains NaN"),
    "non-binary terminals": (
        _mutated(terminals=np.full(21, 0.5, np.float32)),
        "key 'terminals': must hold only 0/1",
    ),
    "strings": (_mutated(rewards=np.array(["a"] * 21)), "key 'rewards': expected numbers"),
    "list not array": (_mutated(rewards=[0.0] * 21), "key 'rewards': expected a numpy array"),
}


@pytest.mark.parametrize("case", list(ILLEGAL))
def test_illegal_cases_name_trajectory_and_key(tmp_path: Path, case: str, capsys) -> None:
    obj, reason = ILLEGAL[case]
    path = _write(tmp_path, obj)
    with pytest.raises(DatasetError) as err:
        load_trajectories(path)
    assert reason in str(err.value)
    assert main(["check-dataset", "--dataset_path", str(path)]) == 1
    out = capsys.readouterr().out.strip()
    assert out.startswith(f"{path} is illegal: ") and reason in out and "\n" not in out


def test_file_level_problems(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        load_trajectories(tmp_path / "nope.pkl")
    (tmp_path / "d.npz").write_bytes(b"x")
    with pytest.raises(DatasetError, match="does not end in .pkl"):
        load_trajectories(tmp_path / "d.npz")
    (tmp_path / "bad.pkl").write_bytes(b"not a pickle")
    with pytest.raises(DatasetError, match="cannot be unpickled"):
        load_trajectories(tmp_path / "bad.pkl")


def test_env_dims_checked(tmp_path: Path, capsys) -> None:
    path = save_trajectories(make_fake_trajectories(obs_dim=39, act_dim=28), tmp_path / "d.pkl")
    assert main(["check-dataset", "--dataset_path", str(path), "--env", "door-human-v1"]) == 0
    assert capsys.readouterr().out.strip() == f"{path} is legal"
    assert main(["check-dataset", "--dataset_path", str(path), "--env", "hammer-human-v1"]) == 1
    assert "key 'observations': has dim 39, the task needs 46" in capsys.readouterr().out


class _Exploit:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_code_running_pickle_is_rejected_without_running(tmp_path: Path, capsys) -> None:
    marker = tmp_path / "pwned"
    path = _write(tmp_path, [{"observations": _Exploit(str(marker))}])
    assert main(["check-dataset", "--dataset_path", str(path)]) == 1
    out = capsys.readouterr().out
    assert "is illegal: " in out and "pathlib" in out and "may not contain" in out
    assert not marker.exists()


def test_release_format_boundary_terminals_become_timeouts(tmp_path: Path) -> None:
    trajs = make_fake_trajectories(n=2)
    for t in trajs:  # the authors' release: no timeouts, terminals = 1 on the last step
        del t["timeouts"]
        t["terminals"] = np.zeros(len(t["rewards"]), np.float32)
        t["terminals"][-1] = 1
    loaded = load_trajectories(_write(tmp_path, trajs))
    for t in loaded:
        assert t["terminals"].sum() == 0 and t["timeouts"][-1] == 1 and t["timeouts"].sum() == 1


def test_optional_infos_allowed(tmp_path: Path) -> None:
    trajs = make_fake_trajectories(n=2)
    trajs[0]["infos"] = {"source": "test", "goal_achieved": np.zeros(20, bool)}
    assert len(load_trajectories(_write(tmp_path, trajs))) == 2


def test_checker_script_exit_codes(tmp_path: Path) -> None:
    good = save_trajectories(make_fake_trajectories(), tmp_path / "good.pkl")
    bad = _write(tmp_path, [], "bad.pkl")
    script = REPO / "offline_data" / "check_dataset_format.py"
    ok = subprocess.run(
        [sys.executable, script, "--dataset_path", good], capture_output=True, text=True
    )
    assert ok.returncode == 0 and ok.stdout.strip() == f"{good} is legal"
    ko = subprocess.run(
        [sys.executable, script, "--dataset_path", bad], capture_output=True, text=True
    )
    assert ko.returncode == 1 and ko.stdout.strip() == f"{bad} is illegal: contains no trajectories"
    assert "Traceback" not in ko.stderr
