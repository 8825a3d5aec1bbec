"""The README says what the code does: op table, exit codes, and the CI runs its test command."""

from __future__ import annotations

import re
from pathlib import Path

from snnc.errors import EXIT_CODES
from snnc.frontend import support_table

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def quickstart_commands() -> list[str]:
    section = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)\n```", section, flags=re.S)


def test_quickstart_has_exactly_two_commands():
    commands = quickstart_commands()
    assert len(commands) == 2 and all("\n" not in c for c in commands)


def test_ci_runs_the_readme_test_command():
    assert quickstart_commands()[1] in (ROOT / ".ci" / "run").read_text()


def test_op_table_matches_the_registry():
    rows = dict(re.findall(r"^\| (\w+) \| ([\d, ]+) \|$", README, flags=re.M))
    assert rows == {op: ", ".join(map(str, versions)) for op, versions in support_table()}


def test_exit_code_table_matches_the_code():
    rows = {int(code) for code in re.findall(r"^\| (\d+) \| ", README, flags=re.M)}
    assert rows == set(EXIT_CODES)


def test_the_neuron_models_page_quotes_each_model():
    import inspect

    from snnc import models

    page = (ROOT / "docs" / "neuron-models.md").read_text()
    for name in ("ilif", "if", "msat"):
        assert inspect.getdoc(type(models.model(name))) in page, f"docs/neuron-models.md: {name}'s docstring"
