"""Imports run one way (README, "Layout"; docs/architecture.md): the neuron models, then the IR
and the frontend at the bottom, the passes over them, the numpy references in runtime/ (the semantics), the targets
(lowering, code generation, and what runs their output: the cpu runner, the accel simulator),
and the drivers (program, CLI) on top. A module may import from its own layer and below."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {  # folder → packages its modules must not import
    "snnc/models": (
        "snnc.ir",
        "snnc.frontend",
        "snnc.passes",
        "snnc.runtime",
        "snnc.targets",
        "snnc.program",
        "snnc.cli",
    ),  # fmt: skip
    "snnc/ir": ("snnc.frontend", "snnc.passes", "snnc.runtime", "snnc.targets", "snnc.program", "snnc.cli"),
    "snnc/frontend": ("snnc.passes", "snnc.runtime", "snnc.targets", "snnc.program", "snnc.cli"),
    "passes": ("snnc.targets", "snnc.program", "snnc.cli"),
    "runtime": ("snnc.targets", "snnc.program", "snnc.cli"),
    "targets": ("snnc.program", "snnc.cli", "snnc.evaluate", "snnc.exits"),
}


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at its top or inside functions."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_imports_run_one_way(folder):
    offending = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for module in imported_modules(path):
            if module.startswith(FORBIDDEN[folder]) and not module.startswith(("snnc.errors",)):
                offending.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offending == []
