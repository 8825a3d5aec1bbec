"""The long fuzz campaign behind the benchmark document's trust section.

    python bench/fuzz.py [--cases 6000] [--seed 2026] [--jobs 2] [--out bench/results/fuzz.json]

It runs tests/fuzz/campaign.py (the same mutators, runner and judgement as the CI test, which
runs 360 cases) and prints the totals: exit 1, crashes, hangs, tracebacks and cases with any
problem. The table of outcomes per kind of input and exit code is bench/tables.py's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from tests.fuzz.campaign import run_campaign  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "fuzz.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="snnc-fuzz-") as work:
        summary = run_campaign(args.cases, args.seed, args.jobs, Path(work))
    summary["command"] = f"python bench/fuzz.py --cases {args.cases} --seed {args.seed} --jobs {args.jobs}"
    Path(args.out).write_text(json.dumps(summary, indent=1) + "\n")
    print({key: summary[key] for key in ("cases", "seconds", "exit_1", "crashes", "hangs", "tracebacks",
                                          "problem_cases")})  # fmt: skip
    return 0 if summary["problem_cases"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
