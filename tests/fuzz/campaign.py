"""A fuzz campaign: build the seeds, make N seeded cases over the six kinds, run them, count.

    python -m tests.fuzz.campaign --cases 300 --seed 0 --jobs 2 [--json summary.json] [--keep DIR]

The summary counts outcomes per kind and per exit code, and lists every case with a problem
(its kind, mutation, command and stderr) so that it can be replayed. Exit status: 0 when no case
had a problem, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # children fork from this process: no BLAS threads
os.environ.setdefault("OMP_NUM_THREADS", "1")

from tests.fuzz.cases import KINDS, CaseMaker  # noqa: E402
from tests.fuzz.runner import Runner  # noqa: E402


def build_seeds_in_child(folder: Path) -> None:
    """Compile the seeds in a child process, so this one stays free of thread pools."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            from tests.fuzz.seeds import build_seeds

            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # the seeds' reports are not the campaign's output
            build_seeds(folder)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError("building the fuzz seeds failed")


def run_campaign(cases: int, seed: int, jobs: int, workdir: Path, timeout: float = 60.0, progress=None) -> dict:
    seeds = workdir / "seeds"
    started = time.monotonic()
    build_seeds_in_child(seeds)
    maker = CaseMaker(seeds)
    rng = random.Random(seed)
    kinds = [KINDS[i % len(KINDS)] for i in range(cases)]
    rng.shuffle(kinds)
    generated = (maker.make(kind, random.Random(rng.getrandbits(64))) for kind in kinds)
    runner = Runner(workdir / "cases", timeout=timeout, jobs=jobs)
    outcomes = runner.run_all(generated, progress)
    return summarize(outcomes, time.monotonic() - started, seed)


def summarize(outcomes, seconds: float, seed: int) -> dict:
    by_kind: dict[str, Counter] = {kind: Counter() for kind in KINDS}
    for outcome in outcomes:
        by_kind[outcome.case.kind][outcome.verdict] += 1
    problems = [
        {"kind": o.case.kind, "mutation": o.case.label, "argv": o.case.argv, "verdict": o.verdict,
         "problems": o.problems, "stderr": o.stderr[-2000:]}
        for o in outcomes if o.problems
    ]  # fmt: skip
    totals = Counter(o.verdict for o in outcomes)
    examples: dict[str, list[str]] = {}
    for outcome in outcomes:  # a few distinct messages per kind and exit code, to read what the cases met
        lines = [line for line in outcome.stderr.splitlines() if line.startswith("snnc: error:")]
        found = examples.setdefault(f"{outcome.case.kind} {outcome.verdict}", [])
        if lines and len(found) < 5 and lines[0][:160] not in found:
            found.append(lines[0][:160])
    return {
        "seed": seed,
        "cases": len(outcomes),
        "seconds": round(seconds, 1),
        "parent_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "by_kind": {kind: dict(sorted(counts.items())) for kind, counts in by_kind.items()},
        "by_exit": dict(sorted(totals.items())),
        "exit_1": totals.get("exit 1", 0),
        "crashes": sum(n for verdict, n in totals.items() if verdict.startswith("signal")),
        "hangs": totals.get("hang", 0),
        "tracebacks": sum("traceback" in o.problems for o in outcomes),
        "problem_cases": len(problems),
        "problems": problems,
        "examples": examples,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds before a case counts as a hang")
    parser.add_argument("--json", help="write the summary here")
    parser.add_argument("--keep", help="work in this folder and keep the failing cases")
    args = parser.parse_args(argv)
    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="snnc-fuzz-"))
    workdir.mkdir(parents=True, exist_ok=True)
    done = Counter()

    def progress(outcome) -> None:
        done["cases"] += 1
        if outcome.problems:
            done["problems"] += 1
            case = outcome.case
            print(f"[{case.kind}] {case.label} → {outcome.verdict}: {outcome.problems}\n    {' '.join(case.argv)}"
                  f"\n    {outcome.stderr.strip()[-300:]}", file=sys.stderr)  # fmt: skip
        if done["cases"] % 100 == 0:
            print(f"{done['cases']} cases, {done['problems']} with problems", file=sys.stderr)

    summary = run_campaign(args.cases, args.seed, args.jobs, workdir, args.timeout, progress)
    text = json.dumps(summary, indent=1)
    if args.json:
        Path(args.json).write_text(text)
    print(json.dumps({k: v for k, v in summary.items() if k != "problems"}, indent=1))
    if not args.keep:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if summary["problem_cases"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
