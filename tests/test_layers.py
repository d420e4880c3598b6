"""The package's import structure: three one-way layers, no cycles between packages (issue 13).

Imports are read from the source (AST), lazy ones inside functions included, so a dependency
cannot hide from the check by being imported late.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "repro"

#: Modules that import nothing else from the package (the bottom layer).
FOUNDATIONS = {"repro.errors", "repro.atomic", "repro.choices", "repro.devices", "repro.progress"}


def module_name(path: Path) -> str:
    parts = path.with_suffix("").parts
    parts = parts[len(parts) - 1 - parts[::-1].index("repro") :]  # from the last 'repro' folder down
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _module(path: Path) -> str:
    """Dotted name of a file as a module (``__init__`` kept, so relative imports resolve)."""
    parts = path.with_suffix("").parts
    return ".".join(parts[len(parts) - 1 - parts[::-1].index("repro") :])


def imports_of(path: Path) -> set[str]:
    """Every ``repro.*`` module named by an import statement in ``path`` (resolved, absolute)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    package = _module(path).rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.add(mod)
            # ``from repro import masks`` names the submodule ``repro.masks``
            found.update(f"{mod}.{alias.name}" for alias in node.names)
    return {m for m in found if m == "repro" or m.startswith("repro.")}


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in ROOT.rglob("*.py")}
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for imp in imports_of(path):
            # keep the longest prefix that is a real module (``repro.masks.ensure_masks`` -> ``repro.masks``)
            while imp and imp not in modules:
                imp = imp.rpartition(".")[0]
            if imp and imp != name:
                targets.add(imp)
        edges[name] = targets
    return edges


def package_of(module: str) -> str:
    """``repro.train.loop`` -> ``repro.train``; top-level modules are their own package."""
    parts = module.split(".")
    return ".".join(parts[:2])


GRAPH = graph()


def test_the_graph_sees_the_package():
    assert len(GRAPH) > 60 and "repro.cli" in GRAPH and "repro.evaluation.metrics" in GRAPH
    assert "repro.train" in GRAPH["repro.suite.executor"]  # a plain import, visible to tools


def test_no_library_module_imports_the_command_line():
    offenders = sorted(
        f"{mod} -> {dep}"
        for mod, deps in GRAPH.items()
        if not (mod == "repro.cli" or mod.startswith("repro.cli.") or mod == "repro.__main__")
        for dep in deps
        if dep == "repro.cli" or dep.startswith("repro.cli.")
    )
    assert not offenders, offenders


@pytest.mark.parametrize("lower", ["repro.evaluation", "repro.models", "repro.data", "repro.teacher", "repro.masks"])
def test_libraries_know_no_trainer_and_no_suite(lower):
    offenders = sorted(
        f"{mod} -> {dep}"
        for mod, deps in GRAPH.items()
        if package_of(mod) == lower
        for dep in deps
        if package_of(dep) in ("repro.train", "repro.suite")
    )
    assert not offenders, offenders


def test_foundations_import_nothing_above_them():
    offenders = sorted(f"{mod} -> {dep}" for mod in FOUNDATIONS for dep in GRAPH[mod])
    assert not offenders, offenders
    geometry = {dep for mod, deps in GRAPH.items() if package_of(mod) == "repro.geometry" for dep in deps}
    assert {package_of(d) for d in geometry} <= {"repro.geometry", "repro.choices"}, geometry


def test_no_import_cycle_between_packages():
    pkg_edges: dict[str, set[str]] = defaultdict(set)
    for mod, deps in GRAPH.items():
        for dep in deps:
            a, b = package_of(mod), package_of(dep)
            if a != b and a != "repro":
                pkg_edges[a].add(b)
    # depth-first search for a back edge, reporting the cycle it closes
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(pkg_edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(pkg_edges):
        if start not in state and (cycle := visit(start)):
            pytest.fail("import cycle between packages: " + " -> ".join(cycle))


def test_the_checker_finds_a_planted_cycle(tmp_path):
    """The AST reader resolves relative imports and ``from pkg import module`` forms."""
    pkg = tmp_path / "repro" / "evaluation"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "x.py").write_text("from ..train import loop\nfrom . import metrics\n\ndef f():\n    import repro.cli\n")
    found = imports_of(pkg / "x.py")
    assert {"repro.train", "repro.train.loop", "repro.evaluation.metrics", "repro.cli"} <= found
