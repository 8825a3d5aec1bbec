"""Where `snnc eval` runs its programs: in this process, or on a Ray cluster (snnc/cluster.py).

Both cut the data the same way (CHUNK images per simulator call, merged in order), so a sweep
gives the same predictions, steps and counts wherever it runs. The local runner runs a job as
it is submitted; the cluster runner queues it and returns at once, so the workers run one
configuration while this process compiles the next, and `finish` waits for all of them under
one progress bar.
"""

from __future__ import annotations

import hashlib
import json
import time

import numpy as np

from snnc.progress import progress

CHUNK = 64  # images per simulator call: the progress bar advances per chunk, every second or so


def run_in_chunks(program, x: np.ndarray, timesteps: int | None, on_chunk=None, **options):
    """program.run over CHUNK-image pieces of x, merged in order: how every run of a sweep cuts
    its data, here or on a cluster's worker. `on_chunk(images)` after each; `options` go to
    Program.run (engine, threads, record, trace)."""
    merged = None
    for start in range(0, len(x), CHUNK):
        result = program.run(x[start : start + CHUNK], timesteps=timesteps, **options)
        merged = result if merged is None else merged.merge(result)
        if on_chunk is not None:
            on_chunk(len(result.logits))
    return merged


def run_with_progress(program, x: np.ndarray, timesteps: int | None, desc: str, quiet: bool, **options):
    """run_in_chunks advancing a progress bar: (one merged SimResult, the wall seconds the runs
    took, the native build before them excluded). `options` go to Program.run."""
    with progress(total=len(x), desc=desc, quiet=quiet) as bar:
        bar.set_postfix_str("building the native code" if program.settings.target == "cpu" else "")
        program.run(x[:1], timesteps=timesteps, **options)  # untimed: the speed is the code's, not the build's
        bar.set_postfix_str("")
        began = time.perf_counter()
        merged = run_in_chunks(program, x, timesteps, bar.update, **options)
        return merged, time.perf_counter() - began


class LocalRunner:
    """Runs each job when it is submitted, with a progress bar of its own."""

    mapper = None  # calibration streams its batches here (runtime/ort.stream_values)
    tracer = None  # exit calibration runs program.run itself

    def __init__(self, quiet: bool, engine: str | None, threads: int | None) -> None:
        self.quiet, self.engine, self.threads = quiet, engine, threads

    def submit(self, program, steps: int, x: np.ndarray, desc: str):
        return run_with_progress(program, x, steps, desc, self.quiet, engine=self.engine, threads=self.threads)

    def finish(self, jobs: list) -> list:
        """[(merged SimResult, seconds)] per job."""
        return jobs

    def stats(self) -> dict | None:
        return None

    def close(self) -> None:
        pass


class ClusterRunner:
    """Jobs cut into shards (pool.shard images each), run by a ShardPool's workers."""

    def __init__(self, pool, quiet: bool, engine: str | None) -> None:
        self.pool, self.engine, self.quiet = pool, engine, quiet
        self.threads = pool.threads  # each worker's
        self.began = time.perf_counter()
        self.bar = progress(total=0, desc=f"sweep on {pool.size} workers", quiet=quiet)
        pool.listeners.append(lambda task, pid: self.bar.update(task.images))
        self.shards: dict[tuple, tuple] = {}  # (id(x), size) → (x, [(start, stop, ref)])
        self.payloads: dict[str, list] = {}  # key → [the payload's ObjectRef]
        self.mapper = self.map_batches  # calibration's batches
        self.tracer = self.trace

    def submit(self, program, steps: int, x: np.ndarray, desc: str) -> list[int]:
        return self._runs(program, x, steps, self.engine, trace=False)

    def finish(self, jobs: list[list[int]]) -> list:
        """[(merged SimResult, worker seconds)] per job, in the order submitted."""
        done = []
        for ids in jobs:
            parts = self.pool.gather(ids)
            merged = parts[0]
            for part in parts[1:]:
                merged = merged.merge(part)
            done.append((merged, sum(self.pool.seconds[i] for i in ids)))
        return done

    def trace(self, program, x: np.ndarray, steps: int, threads, engine):
        """program.run(x, steps, trace=True), its shards run by the workers (exit calibration)."""
        ((merged, _),) = self.finish([self._runs(program, x, steps, engine, trace=True)])
        return merged

    def map_batches(self, graph, data: np.ndarray, names: list[str], batch: int, engine: str, function):
        """(start, function(start, values)) over the batches of `data` (runtime/ort.stream_values),
        the batches run by the workers, a task's shard a whole number of batches."""
        from snnc.ir.text import print_graph

        text = print_graph(graph)
        key, box = self._put_once("graph:" + hashlib.sha256(text.encode()).hexdigest(), text)
        per_task = batch * max(1, self.pool.shard // batch)
        ids = [self.pool.submit("map_batches", key, box, function, ref, start, names, batch, engine)
               for start, _, ref in self._shards(data, per_task)]  # fmt: skip
        for found in self.pool.gather(ids):
            yield from found

    def stats(self) -> dict:
        return {**self.pool.stats(), "wall_s": round(time.perf_counter() - self.began, 3)}

    def close(self) -> None:
        self.bar.close()
        self.pool.close()

    def _expect(self, images: int) -> None:
        self.bar.total = (self.bar.total or 0) + images
        self.bar.refresh()

    def _runs(self, program, x: np.ndarray, steps: int, engine: str | None, trace: bool) -> list[int]:
        """Submit program.run over x's shards: the task ids."""
        from snnc.cluster import program_payload

        payload = program_payload(program)
        text, settings, _ = payload
        digest = hashlib.sha256(text.encode() + json.dumps(settings, sort_keys=True, default=str).encode())
        key, box = self._put_once("program:" + digest.hexdigest(), payload)
        self._expect(len(x))
        return [self.pool.submit("run", key, box, ref, steps, engine, trace, images=stop - start)
                for start, stop, ref in self._shards(x, self.pool.shard)]  # fmt: skip

    def _put_once(self, key: str, payload) -> tuple[str, list]:
        """(key, [the payload's ObjectRef]): each program or graph goes to the object store once."""
        if key not in self.payloads:
            self.payloads[key] = [self.pool.put(payload)]
        return key, self.payloads[key]

    def _shards(self, x: np.ndarray, size: int) -> list[tuple[int, int, object]]:
        """x's shards of `size` images in the object store, put once per array and size."""
        cached = self.shards.get((id(x), size))
        if cached is None or cached[0] is not x:
            refs = [(start, min(start + size, len(x)), self.pool.put(np.ascontiguousarray(x[start : start + size])))
                    for start in range(0, len(x), size)]  # fmt: skip
            cached = self.shards[(id(x), size)] = (x, refs)
        return cached[1]
