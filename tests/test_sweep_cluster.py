"""``lazy_rerun.sh --address``: a smoke sweep on a real Ray cluster (a head started here).

The head runs on 127.0.0.1 with free ports and its own temp dir, and is stopped by signalling the
``ray start --block`` process that owns it: ``ray stop`` would stop every Ray process on the
machine (it matches process names, whatever their session), other people's included.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RAY = Path(sys.executable).with_name("ray")


def _free_ports(n: int) -> list[int]:
    """``n`` distinct ports free right now (held open together so they differ)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _survivors(temp_dir: Path, session: int) -> list[str]:
    """Processes of this head still alive: in its session, or given its temp dir (Linux /proc;
    Ray's agents rename themselves, its workers may start sessions of their own)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "(comm)": state ppid pgrp sid ...
        sid = int(fields[3])
        if sid == session or str(temp_dir) in cmdline:
            found.append(f"{proc.name}: {cmdline[:120]}")
    return found


class RayHead:
    """``ray start --head --block`` in its own process group; :meth:`stop` ends only it."""

    def __init__(self, temp_dir: Path, num_cpus: int = 2):
        self.temp_dir = temp_dir
        gcs, client, agent, metrics = _free_ports(4)
        self.address = f"127.0.0.1:{gcs}"
        self.log = temp_dir / "head.log"
        argv = [str(RAY), "start", "--head", "--block", f"--port={gcs}",
                "--node-ip-address=127.0.0.1", f"--num-cpus={num_cpus}", "--num-gpus=0",
                "--include-dashboard=false", "--disable-usage-stats",
                f"--ray-client-server-port={client}", f"--dashboard-agent-listen-port={agent}",
                f"--metrics-export-port={metrics}", f"--temp-dir={temp_dir}"]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, start_new_session=True,
            )  # fmt: skip

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"ray start exited early:\n{self.log.read_text()[-3000:]}")
            if "Ray runtime started" in self.log.read_text():
                return
            time.sleep(0.5)
        raise AssertionError(f"no Ray head after {timeout}s:\n{self.log.read_text()[-3000:]}")

    def survivors(self) -> list[str]:
        return _survivors(self.temp_dir, self.proc.pid)

    def stop(self) -> None:
        """SIGTERM makes ``ray start --block`` stop its node's processes, then SIGKILL the
        process group as a backstop (Ray's processes die with it: kernel fate-sharing)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
        deadline = time.monotonic() + 15
        while self.survivors() and time.monotonic() < deadline:
            time.sleep(0.5)


def _rows(root: Path) -> list[dict[str, str]]:
    path = root / "evaluation_results" / "agent_performance_door-human-v1.csv"
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.door
@pytest.mark.slow
def test_smoke_sweep_on_a_ray_cluster(data_dir, tmp_path):
    # A short path: Ray's unix sockets live under it (108-byte limit).
    temp_dir = Path(tempfile.mkdtemp(prefix="maqray-", dir="/tmp"))
    head = RayHead(temp_dir)
    try:
        head.wait_ready()
        out = subprocess.run(
            ["bash", str(ROOT / "scripts" / "lazy_rerun.sh"), "--envs", "door-human-v1",
             "--methods", "IQL", "--seeds", "1", "2", "--preset", "smoke", "--episodes", "1",
             "--device", "cpu", "--address", head.address, "--cpus_per_run", "1"],
            cwd=ROOT, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
            env={**os.environ, "MAQ_ROOT": str(tmp_path), "MAQ_DATA_DIR": str(data_dir),
                 "RAY_ADDRESS": ""},
        )  # fmt: skip
        assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-3000:]
        port = head.address.rpartition(":")[2]  # Ray prints the node's IP for 127.0.0.1
        assert re.search(
            rf"Connecting to existing Ray cluster at address: \S+:{port}\b", out.stderr
        )
        assert "sweep: 2 runs: 2 done, 0 skipped, 0 failed" in out.stdout
        # The driver connected to this head (its log is in the head's session), not a local Ray.
        assert list(temp_dir.glob("session_*/logs/python-core-driver-*"))
        done = sorted(p.parent.name for p in (tmp_path / "IQL").rglob("done.json"))
        assert done == ["iql_seed1", "iql_seed2"]
        assert sorted((r["method"], r["seed"]) for r in _rows(tmp_path)) == [
            ("IQL", "1"), ("IQL", "2")
        ]  # fmt: skip
    finally:
        head.stop()
        left = head.survivors()
        shutil.rmtree(temp_dir, ignore_errors=True)
    assert head.proc.returncode is not None and not left, left
