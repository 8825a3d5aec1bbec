"""docs/benchmarks.md and docs/reproducing.md are what bench/docs.py makes of bench/results/:
every table matches its results file, every results file has a table, and every
link between the pages and to the plots resolves."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def docs():
    """bench/docs.py, loaded from its file (a top-level `docs` could be the docs/ folder); it
    imports bench/tables.py as `tables`."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        spec = importlib.util.spec_from_file_location("bench_docs", ROOT / "bench" / "docs.py")
        module = sys.modules["bench_docs"] = importlib.util.module_from_spec(spec)  # dataclasses look it up
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(ROOT / "bench"))
        sys.modules.pop("bench_docs", None)


def test_the_pages_are_what_the_results_give(docs):
    for name, text in docs.pages().items():
        assert docs.PAGES[name].read_text() == text, f"run python bench/docs.py ({name} is out of date)"


def test_every_results_file_is_in_the_document(docs):
    claimed = [name for area in docs.AREAS for name in area.results]
    present = sorted(path.name for path in docs.RESULTS.iterdir())
    assert sorted(claimed) == present


def test_a_changed_result_changes_its_table(docs, tmp_path):
    results = tmp_path / "results"
    shutil.copytree(docs.RESULTS, results)
    path = results / "rate_exits.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[0] |= {"adaptive": rows[0]["fixed"] - 2.0, "lost": 2.0}
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    area = next(area for area in docs.AREAS if "rate_exits.jsonl" in area.results)
    before, after = area.render(docs.RESULTS), area.render(results)
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines()) if a != b]
    assert len(changed) == 1 and "-2.00" in changed[0][1] and changed[0][1].endswith("| not met |")


def test_links_and_images_resolve(docs):
    pages = docs.pages()
    anchors = {f"#{docs.anchor(line[3:])}" for line in pages["benchmarks"].splitlines() if line.startswith("## ")}
    for name, text in pages.items():
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            page, _, fragment = target.partition("#")
            if page:
                assert (docs.PAGES[name].parent / page).exists(), target
            if fragment and page in ("", "benchmarks.md"):
                assert f"#{fragment}" in anchors, target


def test_the_targets_are_computed_from_the_results(docs):
    tables = docs.tables
    assert tables.met(4.9, 5.0) == "≤ 5: met" and tables.met(5.1, 5.0) == "≤ 5: not met"
    assert tables.settings_label({}, "if") == "p99.9, per layer"
    assert tables.settings_label({"thresholds": "error", "bias_correction": True}, "ilif") == (
        "error, per channel, + bias correction"
    )


def test_the_readme_headlines_are_the_results(docs):
    """The README's headline rows quote the results files: the worst loss against the ANN per
    neuron model (T = 32, iLIF T = 4) and the VGG fixture's speed ratios."""
    readme = (ROOT / "README.md").read_text()
    now = [r for r in docs.tables.load(docs.RESULTS, "rate_suite.jsonl") if r["label"] == "now"]
    worst = {(m, t): max(r["ann"] - r["accuracy"] for r in now if (r["neuron"], r["T"]) == (m, t))
             for m, t in (("if", 32), ("msat", 32), ("ilif", 4))}  # fmt: skip
    assert (f"IF T = 32: within {worst['if', 32]:.2f} points on every network; MSAT T = 32: within "
            f"{worst['msat', 32]:.2f}; iLIF T = 4 (`--thresholds error`): within "
            f"{worst['ilif', 4]:.2f}") in readme  # fmt: skip
    rows = docs.tables.load(docs.RESULTS, "ratios.json")["rows"]
    ratio = {(r["neuron"], r["engine"]): r["jit_over_ann"] for r in rows
             if r["network"] == "fmnist_vgg" and r["batch"] == 64}  # fmt: skip
    assert (f"iLIF T = 8: {ratio['ilif', 'native-fixed']:.2f} in fixed point, {ratio['ilif', 'native']:.2f} in "
            f"float32; IF T = 32: {ratio['if', 'native']:.1f}") in readme  # fmt: skip
