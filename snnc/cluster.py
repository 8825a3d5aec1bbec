"""Sweeps on a Ray cluster: a pool of actors, one per worker slot, each compiling a program once
and running many shards of data through it.

Compiled programs are native code and cannot be pickled, so what travels is the program's IR
and settings (`program_payload`: the IR text carries the weights); a worker compiles it on its
first shard and keeps it for the next ones. Data travels once per shard through Ray's object store. Results come back
keyed by task, so a worker that dies (killed, out of memory, its node gone) is replaced and the
tasks it held run again on another: none is lost, none is counted twice, and the report's
`retried_tasks` says how many ran again.

The workers are the user's own machines, running the snnc that the user installed there (its
version is checked), on data and programs this driver made: the same trust as a local run.
"""

from __future__ import annotations

import functools
import os
import socket
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from snnc import __version__
from snnc.errors import ResourceError, SnncError, UsageError

RAY_MISSING = "--cluster needs Ray, an optional extra: pip install 'snnc[ray]'"
MAX_RUNS = 3  # a task whose worker died this many times is not tried again (it kills its workers)
PROGRAMS_KEPT = 2  # compiled programs a worker keeps: tasks arrive in program order
IN_FLIGHT = 2  # tasks queued on each worker, so that it never waits for the driver
CONNECT_TIMEOUT_S = 10
SHARD = 512  # images per task (a multiple of runners.CHUNK): long enough that a task's overhead stays small


def import_ray():
    try:
        import ray
    except ImportError:
        raise UsageError(RAY_MISSING) from None
    return ray


def parse_cluster(spec: str) -> str | None:
    """`--cluster` → the address for ray.init: "ray" is a local instance (or RAY_ADDRESS's
    cluster), "ray://HOST:PORT" a remote cluster through Ray Client, "HOST:PORT" a cluster
    this machine is a node of."""
    if spec == "ray":
        return None
    if spec.startswith("ray://") and len(spec) > len("ray://"):
        return spec
    host, _, port = spec.rpartition(":")
    if host and port.isdigit():
        return spec
    raise UsageError(f"--cluster takes ray, ray://HOST:PORT or HOST:PORT, got {spec!r}")


def connect(ray, address: str | None) -> None:
    """ray.init, after checking that a remote address answers: Ray itself retries an unreachable
    one for minutes. What fails says so in one line (exit 2)."""
    if address is not None:
        host, _, port = address.removeprefix("ray://").rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
        except OSError as exc:
            raise UsageError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}") from None
    try:
        ray.init(address=address, log_to_driver=False, configure_logging=False, include_dashboard=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = address or os.environ.get("RAY_ADDRESS") or "a local instance"
        raise UsageError(f"cannot start or join Ray ({where}): {str(exc).splitlines()[0]}") from None


def program_payload(program) -> tuple[str, dict, dict]:
    """What a worker needs to compile `program` on its machine: the IR text, settings and notes."""
    from snnc.ir.text import print_graph

    return print_graph(program.graph), program.settings.to_dict(), program.notes


def program_from_payload(payload: tuple[str, dict, dict]):
    from snnc.ir.text import parse_graph
    from snnc.program import Program, Settings

    text, settings, notes = payload
    return Program(parse_graph(text), Settings.from_dict(settings), notes)


class Worker:
    """One worker slot (a Ray actor): compiles each program once, runs shards through it."""

    def __init__(self, driver_version: str, threads: int | None) -> None:
        if driver_version != __version__:
            raise UsageError(f"the worker runs snnc {__version__}, the driver {driver_version}: install one version")
        self.threads = threads
        self.programs: OrderedDict[str, object] = OrderedDict()

    def pid(self) -> int:
        return os.getpid()

    def run(self, key: str, payload_box: list, x: np.ndarray, steps: int, engine: str | None, trace: bool):
        """(the merged SimResult of `x` in CHUNK pieces, as a local run cuts it; seconds; pid)."""
        from snnc.runners import run_in_chunks

        program, new = self._program(key, payload_box)
        if new:  # build its code first, untimed: the seconds are the code's speed, as in a local run
            program.run(x[:1], steps, self.threads, engine=engine)
        began = time.perf_counter()
        merged = run_in_chunks(program, x, steps, threads=self.threads, engine=engine, trace=trace)
        return merged, time.perf_counter() - began, os.getpid()

    def map_batches(self, key: str, payload_box: list, function: Callable, x: np.ndarray, offset: int,
                    names: list[str], batch: int, engine: str):  # fmt: skip
        """[(start, function(start, values))] over the batches of `x`, the ANN's values `names`
        of a graph (runtime/ort.map_batches); `offset`: x's first index in the whole set."""
        from snnc.runtime.ort import map_batches

        graph, _ = self._program(key, payload_box)
        began = time.perf_counter()
        shifted = functools.partial(_at_offset, function, offset)
        found = [(offset + start, kept) for start, kept in map_batches(graph, x, names, batch, engine, shifted)]
        return found, time.perf_counter() - began, os.getpid()

    def _program(self, key: str, payload_box: list):
        """The program (a program's payload) or graph (its IR text) for `key`; the payload is
        fetched only on a miss. (It comes boxed in a list so that Ray hands over its reference,
        not its value.) Also: whether it is new here."""
        new = key not in self.programs
        if new:
            import ray

            from snnc.ir.text import parse_graph

            payload = ray.get(payload_box[0])
            self.programs[key] = parse_graph(payload) if isinstance(payload, str) else program_from_payload(payload)
            while len(self.programs) > PROGRAMS_KEPT:
                self.programs.popitem(last=False)
        self.programs.move_to_end(key)
        return self.programs[key], new


def _at_offset(function: Callable, offset: int, start: int, values):
    return function(offset + start, values)


@dataclass
class Task:
    id: int
    method: str
    args: tuple
    images: int
    runs: int = 0


class ShardPool:
    """Actors on a Ray cluster, one per `threads` CPUs (or `workers` of them), fed from a queue;
    a sweep's data goes to them in shards of `shard` images (a multiple of runners.CHUNK).

    `submit` queues a task and returns its id; `gather(ids)` waits for those and returns their
    results in order; tasks run in the order submitted. `on_result(task, pid)` is called as each
    task's result arrives (the progress bar; the fault tests kill a worker from it). A process
    already connected to Ray keeps its cluster; `address` is for connecting."""

    def __init__(self, address: str | None = None, workers: int | None = None, threads: int | None = None,
                 on_result: Callable | None = None, shard: int = SHARD) -> None:  # fmt: skip
        from snnc.runners import CHUNK

        if shard < 1 or shard % CHUNK:
            raise UsageError(f"a shard is a multiple of {CHUNK} images, got {shard}")
        for flag, value in (("--workers", workers), ("--threads", threads)):
            if value is not None and value < 1:
                raise UsageError(f"{flag} must be at least 1, got {value}")
        self.shard = shard
        ray = import_ray()
        if not ray.is_initialized():
            connect(ray, address)
        self.ray = ray
        self.address = address or "local"
        self.threads = threads or 1
        slots = int(ray.cluster_resources().get("CPU", 0)) // self.threads
        self.size = min(workers or slots, slots)
        if self.size < 1:
            raise ResourceError(f"the cluster at {self.address} has no worker slot of {self.threads} CPUs")
        self.actor_class = ray.remote(num_cpus=self.threads, max_restarts=0)(Worker)
        self.actors = [self._start() for _ in range(self.size)]
        try:  # a worker that cannot start (another snnc version) says so now, not as a dead worker later
            ray.get([actor.pid.remote() for actor in self.actors])
        except ray.exceptions.RayActorError as exc:
            lines = str(exc).splitlines()
            reason = next((line.split("UsageError: ", 1)[1] for line in lines if "UsageError: " in line), lines[0])
            raise UsageError(f"a worker of {self.address} did not start: {reason}") from None
        self.pending: deque[Task] = deque()
        self.inflight: dict = {}  # ObjectRef → (task, actor)
        self.results: dict[int, object] = {}
        self.tasks: list[Task] = []
        self.retried = 0  # tasks run again because their worker died
        self.seconds: dict[int, float] = {}  # task id → the seconds its worker spent on it
        self.listeners = [on_result] if on_result is not None else []  # called as (task, pid)

    def _start(self):
        return self.actor_class.remote(__version__, self.threads)

    def put(self, value):
        return self.ray.put(value)

    def submit(self, method: str, *args, images: int = 0) -> int:
        task = Task(len(self.tasks), method, args, images)
        self.tasks.append(task)
        self.pending.append(task)
        self._dispatch()
        return task.id

    def gather(self, ids: list[int]) -> list:
        while not all(i in self.results for i in ids):
            self._collect()
        return [self.results[i] for i in ids]

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors = []

    def stats(self) -> dict:
        return {"address": self.address, "workers": self.size, "threads_per_worker": self.threads,
                "tasks": len(self.tasks), "retried_tasks": self.retried,
                "worker_seconds": self._seconds_by_method()}  # fmt: skip

    def _seconds_by_method(self) -> dict[str, float]:
        """The seconds workers spent in tasks: simulating ("run") and calibrating ("map_batches")."""
        by_method: dict[str, float] = {}
        for task_id, seconds in self.seconds.items():
            method = self.tasks[task_id].method
            by_method[method] = round(by_method.get(method, 0.0) + seconds, 3)
        return by_method

    def _dispatch(self) -> None:
        load = {id(actor): 0 for actor in self.actors}
        for _, actor in self.inflight.values():
            load[id(actor)] += 1
        for actor in self.actors:
            while self.pending and load[id(actor)] < IN_FLIGHT:
                task = self.pending.popleft()
                task.runs += 1
                self.inflight[getattr(actor, task.method).remote(*task.args)] = (task, actor)
                load[id(actor)] += 1

    def _collect(self) -> None:
        """Wait for the next result; a dead worker's tasks are queued again."""
        if not self.inflight:
            raise RuntimeError("waiting for results with no task in flight")  # a bug in the caller
        ready, _ = self.ray.wait(list(self.inflight), num_returns=1)
        for ref in ready:
            if ref not in self.inflight:  # its worker died and the task was queued again
                continue
            task, actor = self.inflight.pop(ref)
            try:
                value, seconds, pid = self.ray.get(ref)
            except self.ray.exceptions.RayActorError:
                self._replace(actor, task)
                continue
            except self.ray.exceptions.RayTaskError as exc:
                cause = getattr(exc, "cause", None)
                raise (cause if isinstance(cause, SnncError) else exc) from None
            self.results[task.id] = value
            self.seconds[task.id] = seconds
            for listener in self.listeners:
                listener(task, pid)
        self._dispatch()

    def _replace(self, dead, task: Task) -> None:
        """A worker died: a new one takes its place, its tasks go back to the front of the queue."""
        lost = [task] + [t for t, a in self.inflight.values() if a is dead]
        self.inflight = {ref: (t, a) for ref, (t, a) in self.inflight.items() if a is not dead}
        for failed in lost:
            if failed.runs >= MAX_RUNS:
                raise ResourceError(f"a task of {failed.images} images killed {MAX_RUNS} workers: "
                                    "out of memory on the workers?")  # fmt: skip
        self.retried += len(lost)
        self.pending.extendleft(sorted(lost, key=lambda t: -t.id))
        self.actors = [a for a in self.actors if a is not dead] + [self._start()]
