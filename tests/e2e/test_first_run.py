"""docs/first-run.md stays true: each command on the page runs, from a folder holding the
examples, and prints the lines the page shows, in order (`…` matches anything; a number matches
any number: native code on another CPU may flip a spike, and with it the last digits); a
command whose output shows an error exits non-zero, the others exit 0."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "first-run.md"


def sessions() -> list[tuple[str, list[str]]]:
    """(command, the output lines shown) for every `$ ` line of the page's console blocks."""
    found: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```console\n(.*?)```", PAGE.read_text(), flags=re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                found.append((line[2:], []))
            else:
                found[-1][1].append(line)
    return found


NUMBER = re.compile(r"\d[\d.,]*")


def pattern(shown: str) -> re.Pattern:
    def literal(part: str) -> str:
        pieces = NUMBER.split(part)
        return r"\d[\d.,]*".join(re.escape(piece) for piece in pieces)

    return re.compile("^" + ".*".join(literal(part) for part in shown.split("…")) + "$")


def test_the_page_has_the_commands_of_a_first_run():
    commands = [command for command, _ in sessions()]
    assert len(commands) == 8 and commands[0] == "snnc --version" and any(" eval " in c for c in commands)


@pytest.mark.slow
def test_every_command_prints_what_the_page_shows(tmp_path):
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    env = {**os.environ, "COLUMNS": "100", "SNNC_CACHE_DIR": str(tmp_path / "cache")}
    snnc = [sys.executable, "-m", "snnc"]
    for command, shown in sessions():
        argv = snnc + command.split()[1:]
        done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600)
        printed = (done.stdout + done.stderr).splitlines()
        failing = any(line.startswith("snnc: error:") for line in shown)
        assert (done.returncode != 0) == failing, (command, done.returncode, done.stderr)
        position = 0  # the shown lines appear in order; `…` lines stand for any number of lines
        for line in shown:
            if line == "…":
                continue
            match = pattern(line)
            while position < len(printed) and not match.match(printed[position]):
                position += 1
            assert position < len(printed), f"{command}: no line matching {line!r} in:\n" + "\n".join(printed)
            position += 1
