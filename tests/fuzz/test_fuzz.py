"""The fuzz suite, bounded for CI (about a minute on 2 cores): seeded mutations of every kind
of input snnc reads from others, each run through the CLI in a child process, each judged on
its exit code, its stderr, its outputs and (cache entries) its results. bench/fuzz.py runs
the long campaign for the benchmark document."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz.cases import KINDS

ROOT = Path(__file__).parents[2]
CASES = 360


@pytest.mark.slow
def test_every_bad_input_gets_a_documented_exit_code(tmp_path):
    summary_path = tmp_path / "summary.json"
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.campaign", "--cases", str(CASES), "--seed", "22", "--jobs", "2",
         "--json", str(summary_path), "--keep", str(tmp_path / "work")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    summary = json.loads(summary_path.read_text())
    assert summary["problems"] == [], done.stderr[-5000:]
    assert done.returncode == 0
    assert summary["cases"] == CASES
    for kind in KINDS:  # every kind was tried, and not only with inputs that pass
        outcomes = summary["by_kind"][kind]
        assert sum(outcomes.values()) == CASES // len(KINDS)
        assert kind == "cache" or set(outcomes) - {"exit 0"}, kind
    assert summary["by_kind"]["cache"] == {"exit 0": CASES // len(KINDS)}  # a bad cache entry is recompiled
    assert len(summary["by_exit"]) >= 6  # 0 and at least five of the documented error codes
