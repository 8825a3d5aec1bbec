"""Where a compile's time goes: CPU and wall seconds per stage (and the process's peak resident
memory when it ended), for `--json` and the benchmarks, and a progress line naming the running
stage on a terminal.

A driver opens a recording (`with recording(show) as stages:`); code anywhere below marks its
stages with `with stage("name"):`, which costs nothing when no recording is open. Stages may
nest (a pass inside "passes"); each is timed on its own, and a name met twice adds up.
"""

from __future__ import annotations

import resource
import time
from contextlib import contextmanager

from snnc.progress import progress


class Stages:
    def __init__(self, show: bool) -> None:
        self.seconds: dict[str, dict[str, float]] = {}
        self.bar = progress(0, "compile", quiet=not show, unit="stage") if show else None

    def table(self) -> dict[str, dict[str, float]]:
        """{stage: {"cpu": s, "wall": s, "peak_mib": MiB}}, seconds rounded to ms, in order of first start."""
        return {name: {key: round(value, 3) for key, value in row.items()} for name, row in self.seconds.items()}

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


_current: Stages | None = None


@contextmanager
def recording(show: bool = False):
    """Record the stages run inside; yields the Stages (read `.table()` after)."""
    global _current
    outer, _current = _current, Stages(show)
    try:
        yield _current
    finally:
        _current.close()
        _current = outer


@contextmanager
def stage(name: str):
    stages = _current
    if stages is None:
        yield
        return
    row = stages.seconds.setdefault(name, {"cpu": 0.0, "wall": 0.0})
    if stages.bar is not None:
        stages.bar.set_description(name)
        stages.bar.update(1)
    cpu, wall = time.process_time(), time.perf_counter()
    try:
        yield
    finally:
        row["cpu"] += time.process_time() - cpu
        row["wall"] += time.perf_counter() - wall
        row["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def showing() -> bool:
    """Whether a recording shows progress (then long stages may show their own bars)."""
    return _current is not None and _current.bar is not None
