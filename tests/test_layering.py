"""The package's import graph has no cycles, counting imports inside functions too, and the loops
never import the method table (maq.methods resolves a run and hands it to them)."""

from __future__ import annotations

import ast
from pathlib import Path

import maq

SRC = Path(maq.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in SRC.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                base = node.module
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                    for a in node.names
                ]
            for target in targets:
                if target in modules and target != name:
                    graph[name].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, " → ".join(cycle)


def test_loops_and_lower_layers_never_import_the_method_table_or_the_cli():
    graph = import_graph()
    top = {
        "maq.methods",
        "maq.cli",
        "maq.sweep",
        "maq.sweep_runner",
        "maq.evaluation.evaluate",
        "maq.evaluation.reference",
        "maq.viz.clip",
        "maq.viz.runs",
    }
    for name, targets in graph.items():
        if name.startswith(
            (
                "maq.train",
                "maq.agents",
                "maq.macro",
                "maq.data",
                "maq.nn",
                "maq.buffers",
                "maq.presets",
                "maq.spec",
                "maq.runs",
                "maq.envs",
                "maq.rollout",
                "maq.policy",
                # evaluation's library (metrics, checkpoint choice, CSV, report); only the
                # commands built on the method table (maq.evaluation.evaluate/reference,
                # maq.viz.clip/runs/plots) sit above it
                "maq.evaluation.metrics",
                "maq.evaluation.select",
                "maq.evaluation.report",
                "maq.evaluation.rows",
                "maq.evaluation.results",
                "maq.viz.render",
                "maq.viz.film",
                "maq.viz.heatmap",
            )
        ):
            assert not targets & top, f"{name} imports {targets & top}"


def test_argparse_lives_in_cli_only():
    users = [module_name(p) for p in SRC.rglob("*.py") if "import argparse" in p.read_text()]
    assert users == ["maq.cli"]


def test_every_document_the_code_cites_is_in_the_repository():
    import re

    repo = SRC.parent.parent
    cited = {
        m
        for p in SRC.rglob("*.py")
        for m in re.findall(r"(?<![\w$\"'/.-])[\w./-]+\.md\b", p.read_text())
    }
    missing = sorted(c for c in cited if not (repo / c).exists())
    assert not missing, f"cited but not in the repository: {missing}"


def test_every_pinned_dependency_is_imported():
    import re

    import tomllib

    repo = SRC.parent.parent
    pins = tomllib.loads((repo / "pyproject.toml").read_text())["project"]["dependencies"]
    module = {
        "gymnasium-robotics": "gymnasium_robotics",
        "stable-baselines3": "stable_baselines3",
        "pot": "ot",
        "scikit-learn": "sklearn",
        "pyyaml": "yaml",
        "tensorboard": "torch.utils.tensorboard",
        "imageio-ffmpeg": "imageio_ffmpeg",
    }
    plugins = {"imageio-ffmpeg"}  # imageio's MP4 writer, loaded by imageio itself
    code = "\n".join(p.read_text() for p in SRC.rglob("*.py"))
    for pin in (p for p in pins if p.split("==")[0] not in plugins):
        name = module.get(pin.split("==")[0], pin.split("==")[0])
        assert re.search(rf"^\s*(import|from) {re.escape(name)}\b", code, re.M), f"{pin} unused"
