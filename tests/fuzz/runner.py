"""Run fuzz cases: each in a forked child of one warm process, judged from the outside.

A child changes into the case's folder, sends its stdout and stderr to files, limits its
address space (a runaway allocation then fails instead of swapping) and calls the CLI's
`main`. The parent waits with a deadline, so a hang is killed and counted, a crash is seen as
the signal that ended the child, and everything the case wrote is compared with what was there.

What a case must show (`Outcome.problems` lists what it did not):
- an exit code from the documented set (0 and 2–8; never 1, a signal or a hang), and no
  MemoryError: an allocation that no size check came before;
- on failure, exactly one `snnc: error:` line on stderr and nothing else but warnings,
  and no traceback anywhere;
- on failure, every file of the case folder unchanged and no temporary file left behind;
- where the case names them, the logits it must reproduce (cache cases must recover).
"""

from __future__ import annotations

import hashlib
import os
import resource
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ALLOWED_CODES = {0, 2, 3, 4, 5, 6, 7, 8}
MEMORY_LIMIT = 6 << 30  # address space of a case: far above what the small seeds need


@dataclass
class Case:
    kind: str  # onnx, data, artifact, program, config, cache
    label: str  # what was mutated
    argv: list[str]
    files: dict[str, bytes] = field(default_factory=dict)  # written into the case folder
    prepare: object = None  # callable(folder): links, FIFOs, modes
    env: dict[str, str] = field(default_factory=dict)
    expect_logits: list | None = None  # the case must exit 0 and write these logits to out.npz
    file_size_limit: int | None = None  # a full disk: writes beyond this many bytes fail


@dataclass
class Outcome:
    case: Case
    code: int | None  # exit code, None when a signal ended the case
    signal: int | None
    hang: bool
    stderr: str
    seconds: float
    problems: list[str]

    @property
    def verdict(self) -> str:
        if self.hang:
            return "hang"
        if self.signal is not None:
            return f"signal {self.signal}"
        return f"exit {self.code}"


def snapshot(folder: Path) -> dict[str, str]:
    """Every file below `folder` (links as their target) → a hash of its content."""
    state = {}
    for path in sorted(folder.rglob("*")):
        relative = str(path.relative_to(folder))
        if path.is_symlink():
            state[relative] = "link:" + os.readlink(path)
        elif path.is_file():
            try:
                state[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                state[relative] = "unreadable"
        elif not path.is_dir():
            state[relative] = "special"
    return state


class Runner:
    """Forks one child per case from this (warm) process; `jobs` cases at once."""

    def __init__(self, workdir: Path, timeout: float = 60.0, jobs: int = 1) -> None:
        self.workdir = Path(workdir)
        self.timeout = timeout
        self.jobs = jobs
        self.count = 0
        import snnc.cli  # noqa: F401  (imported once, before any fork)

    def run_all(self, cases, on_outcome=None) -> list[Outcome]:
        running: dict[int, tuple] = {}
        outcomes = []
        pending = iter(cases)
        exhausted = False
        while running or not exhausted:
            while not exhausted and len(running) < self.jobs:
                case = next(pending, None)
                if case is None:
                    exhausted = True
                    break
                started = self._start(case)
                running[started[0]] = started
            if not running:
                break
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                now = time.monotonic()
                for child, (_, case, folder, before, begun) in list(running.items()):
                    if now - begun > self.timeout:
                        os.kill(child, signal.SIGKILL)
                        os.waitpid(child, 0)
                        del running[child]
                        outcome = self._judge(case, folder, before, None, begun, hang=True)
                        outcomes.append(outcome)
                        if on_outcome:
                            on_outcome(outcome)
                time.sleep(0.002)
                continue
            if pid not in running:
                continue
            _, case, folder, before, begun = running.pop(pid)
            outcome = self._judge(case, folder, before, status, begun)
            outcomes.append(outcome)
            if on_outcome:
                on_outcome(outcome)
        return outcomes

    def _start(self, case: Case):
        self.count += 1
        folder = self.workdir / f"case{self.count:05d}"
        folder.mkdir(parents=True)
        for name, data in case.files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
        case.files = dict.fromkeys(case.files, b"")  # written: the parent (which children copy) keeps no data
        for name in ("out.snnc", "out.snnx", "out.npz"):
            if name not in case.files:
                (folder / name).write_bytes(b"an earlier result that must survive a failure\n")
        if case.prepare is not None:
            case.prepare(folder)
        before = snapshot(folder)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            self._child(case, folder)
        return pid, case, folder, before, time.monotonic()

    def _child(self, case: Case, folder: Path) -> None:
        code = 1
        try:
            os.chdir(folder)
            for fd, name in ((1, "stdout"), (2, "stderr")):
                handle = os.open(folder.parent / f"{folder.name}.{name}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
                os.dup2(handle, fd)
                os.close(handle)
            os.environ.update(case.env)
            resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
            if case.file_size_limit is not None:
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_FSIZE, (case.file_size_limit, case.file_size_limit))
            signal.alarm(int(self.timeout) + 5)
            from snnc.cli import main

            try:
                code = main(case.argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 2
        except BaseException:  # noqa: BLE001  (escaped main: a traceback on stderr, exit 1)
            import traceback

            traceback.print_exc()
            code = 1
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code if isinstance(code, int) else 1)

    def _judge(self, case: Case, folder: Path, before: dict, status, begun: float, hang: bool = False) -> Outcome:
        seconds = time.monotonic() - begun
        stderr_path = folder.parent / f"{folder.name}.stderr"
        stderr = stderr_path.read_text(errors="replace") if stderr_path.exists() else ""
        code = sig = None
        if not hang:
            if os.WIFSIGNALED(status):
                sig = os.WTERMSIG(status)
            else:
                code = os.WEXITSTATUS(status)
        problems = []
        if hang or sig is not None:
            problems.append("hang" if hang else f"killed by signal {sig}")
        elif code not in ALLOWED_CODES:
            problems.append(f"exit {code}")
        if "Traceback" in stderr:
            problems.append("traceback")
        if "snnc: error: out of memory" in stderr:  # a MemoryError: an allocation no check came before
            problems.append("unchecked allocation")
        lines = [line for line in stderr.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("snnc: error:")]
        others = [line for line in lines if not line.startswith(("snnc: error:", "snnc: warning:"))]
        if code not in (None, 0) and (len(errors) != 1 or others):
            problems.append(f"stderr: {len(errors)} error line(s), {len(others)} other line(s)")
        if code == 0 and (errors or others):
            problems.append("stderr on success: " + (errors + others)[0][:120])
        after = snapshot(folder)
        if code != 0:
            changed = [name for name, digest in before.items() if after.get(name) != digest]
            if changed:
                problems.append(f"changed on failure: {changed}")
        litter = [name for name in set(after) - set(before) if Path(name).name.startswith(".")]
        if litter and (code != 0 or case.file_size_limit is None):
            problems.append(f"temporary files left: {sorted(litter)}")
        if case.expect_logits is not None:
            problems += self._check_logits(case, folder, code)
        if not problems:
            _remove(folder)
            for name in ("stdout", "stderr"):
                (folder.parent / f"{folder.name}.{name}").unlink(missing_ok=True)
        return Outcome(case, code, sig, hang, stderr, seconds, problems)

    @staticmethod
    def _check_logits(case: Case, folder: Path, code) -> list[str]:
        import numpy as np

        if code != 0:
            return ["a recoverable case failed"]
        try:
            logits = np.load(folder / "out.npz")["logits"]
        except Exception as exc:  # noqa: BLE001
            return [f"no logits written ({exc})"]
        if not np.array_equal(logits, np.asarray(case.expect_logits, np.float32)):
            return ["logits differ from the clean run"]
        return []


def _remove(folder: Path) -> None:
    import shutil

    for path in [folder, *folder.rglob("*")]:
        try:
            if not path.is_symlink():
                path.chmod(0o700 if path.is_dir() else 0o600)
        except OSError:
            pass
    shutil.rmtree(folder, ignore_errors=True)
