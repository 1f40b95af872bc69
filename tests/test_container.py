"""The container: the Dockerfile installs like scripts/setup.sh; start-container.sh picks an engine.

No container engine runs on the test machines, so the image is not built here; these tests check
the install steps and the exact commands start-container.sh would run (its --dry-run).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
START = ROOT / "scripts" / "start-container.sh"


def _instructions(text: str) -> list[str]:
    """Dockerfile instructions with continuation lines joined and comments dropped."""
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    return [i.strip() for i in re.sub(r"\\\n", " ", "\n".join(lines)).splitlines() if i.strip()]


def test_dockerfile_installs_with_setup_sh_from_pyproject():
    steps = _instructions(DOCKERFILE)
    runs = [s for s in steps if s.startswith("RUN ")]
    copies = [s for s in steps if s.startswith("COPY ")]
    # maq and its dependencies come from scripts/setup.sh, which reads pyproject.toml only
    assert any(s.endswith("./scripts/setup.sh") for s in runs)
    assert any("pyproject.toml" in s for s in copies)
    assert any("scripts/setup.sh" in s for s in copies) and any("src/" in s for s in copies)
    assert not any("pip install" in s for s in runs), "dependencies belong in pyproject.toml"
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert 'pip install --quiet -e ".[dev]"' in setup and "pyproject.toml" in setup
    assert not list(ROOT.glob("requirements*.txt")), "one dependency list: pyproject.toml"
    # the container's Python is 3.11, which the package accepts
    assert "python3.11" in DOCKERFILE and "PYTHON=python3.11" in DOCKERFILE
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'requires-python = ">=3\.(10|11)"', pyproject)


def test_dockerfile_is_cuda_capable_headless_egl_without_mujoco_py():
    steps = _instructions(DOCKERFILE)
    assert re.search(r"^ARG BASE_IMAGE=nvidia/cuda:\S+-runtime-ubuntu\S+$", "\n".join(steps), re.M)
    assert "MUJOCO_GL=egl" in DOCKERFILE and "graphics" in DOCKERFILE
    assert "libegl1" in DOCKERFILE and "libgl1" in DOCKERFILE
    low = "\n".join(steps).lower()  # instructions only: the comments may name what is left out
    assert "mujoco-py" not in low and "mujoco_py" not in low and "mujoco210" not in low
    # the scripts use the image's venv, and the mounted checkout's sources
    assert "MAQ_PYTHON=/opt/maq/.venv/bin/python" in DOCKERFILE
    assert "PYTHONPATH=/workspace/src" in DOCKERFILE


def test_dockerignore_sends_only_what_setup_needs():
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    ignore = [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
    assert ignore[0] == "*"
    for needed in ("!pyproject.toml", "!README.md", "!scripts/setup.sh", "!src/"):
        assert needed in ignore


def test_scripts_parse():
    for script in sorted((ROOT / "scripts").glob("*.sh")):
        subprocess.run(["bash", "-n", str(script)], check=True)


@pytest.fixture
def fake_path(tmp_path):
    """A PATH with only the tools start-container.sh needs, plus fakes added per test."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "id", "grep", "cat"):
        os.symlink(shutil.which(tool), bin_dir / tool)

    def add(name: str, body: str = "exit 0") -> None:
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)

    return bin_dir, add


def _start(bin_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [shutil.which("bash"), str(START), *args],
        env={"PATH": str(bin_dir), **env},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )


def test_start_container_help_and_bad_flags(fake_path):
    bin_dir, _ = fake_path
    out = _start(bin_dir, "--help")
    assert out.returncode == 0
    for flag in ("--engine", "--image", "--no-build", "--no-gpu", "--dry-run"):
        assert flag in out.stdout
    bad = _start(bin_dir, "--bogus")
    assert bad.returncode == 2 and "unknown argument: --bogus" in bad.stderr
    none = _start(bin_dir, "--dry-run")
    assert none.returncode == 1 and "neither docker nor podman" in none.stderr


def test_start_container_prefers_docker_and_passes_gpus(fake_path, tmp_path):
    bin_dir, add = fake_path
    add("podman")
    out = _start(bin_dir, "--dry-run", "--", "./scripts/test.sh", "-q")
    build, run = out.stdout.splitlines()
    assert build == f"podman build -t maq -f {ROOT}/Dockerfile {ROOT} "
    assert run.startswith(f"podman run --rm -i --ipc=host --network=host -v {ROOT}:/workspace ")
    assert run.endswith(" maq ./scripts/test.sh -q ") and "--gpus" not in run
    assert "nvidia.com/gpu" not in run and "--user" not in run

    add("docker")
    add("nvidia-smi", 'echo "GPU 0: NVIDIA H100 (UUID: GPU-x)"')
    data = tmp_path / "data"
    data.mkdir()
    run = _start(bin_dir, "--dry-run", "--no-build", MAQ_DATA_DIR=str(data)).stdout.splitlines()
    assert len(run) == 1 and run[0].startswith("docker run ")
    assert "--gpus all" in run[0] and "--user " in run[0]
    assert f"-v {data}:/data:ro -e MAQ_DATA_DIR=/data" in run[0]
    podman = _start(bin_dir, "--dry-run", "--engine", "podman").stdout.splitlines()[1]
    assert "--device nvidia.com/gpu=all" in podman
    assert "--gpus" not in _start(bin_dir, "--dry-run", "--no-gpu").stdout
