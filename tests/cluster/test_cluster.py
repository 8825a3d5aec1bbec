"""`snnc eval --cluster` on a real Ray cluster started on 127.0.0.1: a head with no CPU of its own
and two worker nodes of one CPU each, so every task crosses processes. The oracle is the same
sweep run in this process: the cluster must give the same report, image by image, also when
one of its workers is killed mid-run. Marked `cluster`; skipped without Ray (.ci/run installs it)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

# Ray's switch for single-machine clusters: every node, and the driver, on the loopback address
# (read when ray is imported; the cluster's processes and the CLI's inherit it)
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
ray = pytest.importorskip("ray")
pytestmark = pytest.mark.cluster

from snnc.cluster import ShardPool  # noqa: E402
from snnc.evaluate import evaluate  # noqa: E402
from snnc.program import compile  # noqa: E402
from snnc.runners import ClusterRunner  # noqa: E402
from tests.cluster.paths import CALIB, DATA, MODEL  # noqa: E402

SWEEP = dict(neurons=["if", "ilif"], timesteps=[8], calib=CALIB, exits={"budget": 0.5}, quiet=True, threads=1,
             per_image=True)  # fmt: skip
TIMED = ("speed",)  # what differs between two runs of the same sweep: its timings


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    local = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    for _ in range(2):
        local.add_node(num_cpus=1)
    local.wait_for_nodes()
    ray.init(address=local.address, log_to_driver=False, configure_logging=False)
    assert {node["NodeManagerAddress"] for node in ray.nodes()} == {"127.0.0.1"}
    yield local
    ray.shutdown()
    local.shutdown()


@pytest.fixture(scope="module")
def local_report():
    return evaluate(MODEL, DATA, **SWEEP)


def untimed(report: dict) -> dict:
    rows = [{k: v for k, v in row.items() if k not in TIMED} for row in report["results"]]
    ann = {k: v for k, v in report["ann"].items() if k not in TIMED}
    return {**{k: v for k, v in report.items() if k != "cluster"}, "results": rows, "ann": ann}


def test_the_sweep_on_two_workers_is_the_local_sweep_image_by_image(cluster, local_report, tmp_path, monkeypatch):
    monkeypatch.setenv("SNNC_CACHE_DIR", str(tmp_path))  # the thresholds are calibrated again, on the workers
    pool = ShardPool(shard=64)  # 256 test images: 4 shards per configuration
    report = evaluate(MODEL, DATA, cluster=pool, **SWEEP)
    assert untimed(report) == untimed(local_report)
    assert len(report["results"]) == 4 and len(report["results"][0]["predictions"]) == 256
    stats = report["cluster"]
    assert stats["workers"] == 2 and stats["retried_tasks"] == 0
    runs = [t for t in pool.tasks if t.method == "run"]
    assert sum(t.images for t in runs) >= 4 * 256  # the rows' shards, and the exits' calibration traces
    assert any(t.method == "map_batches" for t in pool.tasks)  # thresholds calibrated on the workers


def test_a_worker_killed_mid_run_is_replaced_and_its_shards_run_again(cluster, local_report):
    killed = []

    def kill_once(task, pid):
        if not killed:
            killed.append(pid)
            os.kill(pid, signal.SIGKILL)

    pool = ShardPool(shard=64, on_result=kill_once)
    report = evaluate(MODEL, DATA, cluster=pool, **SWEEP)
    assert killed and report["cluster"]["retried_tasks"] >= 1
    assert untimed(report) == untimed(local_report)  # nothing lost, nothing counted twice
    pids = ray.get([actor.pid.remote() for actor in pool.actors]) if pool.actors else []
    assert killed[0] not in pids


def test_thresholds_calibrated_on_the_workers_are_those_of_this_process(cluster, tmp_path, monkeypatch):
    x = np.load(CALIB)["x"]
    monkeypatch.setenv("SNNC_CACHE_DIR", str(tmp_path / "here"))  # no cached thresholds: both calibrate
    here = compile(MODEL, neuron="if", timesteps=16, calibration=x, per_channel=True)
    monkeypatch.setenv("SNNC_CACHE_DIR", str(tmp_path / "there"))
    pool = ShardPool(shard=128)
    runner = ClusterRunner(pool, quiet=True, engine=None)
    try:
        there = compile(MODEL, neuron="if", timesteps=16, calibration=x, per_channel=True, mapper=runner.mapper)
    finally:
        runner.close()
    offsets = sorted(t.args[4] for t in pool.tasks if t.method == "map_batches")
    assert len(offsets) >= 2 and offsets[0] == 0 and offsets[-1] < len(x)  # several shards, from the first image
    for name in here.graph.topological():
        threshold = getattr(here.graph.op(name), "threshold", None)
        if threshold is not None:
            np.testing.assert_array_equal(threshold, there.graph.op(name).threshold)


def test_the_command_line_joins_a_running_cluster_by_its_address(cluster, local_report):
    """`snnc eval --cluster HOST:PORT` in a process of its own, as a user runs it on a node."""
    command = [
        sys.executable,
        "-m",
        "snnc",
        "eval",
        MODEL,
        "--data",
        DATA,
        "--calib",
        CALIB,
        "--neuron",
        "if,ilif",
        "-T",
        "8",
        "--adaptive",
        "--threads",
        "1",
        "--json",
        "--per-image",
        "-q",
        "--cluster",
        cluster.address,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["cluster"]["address"] == cluster.address and report["cluster"]["workers"] == 2
    assert untimed(report) == untimed(local_report)


def test_an_address_that_does_not_answer_is_one_line_not_a_wait():
    """Ray itself retries an unreachable cluster for minutes; snnc checks the address first."""
    command = [sys.executable, "-m", "snnc", "eval", MODEL, "--data", DATA, "--calib", CALIB, "--neuron", "if",
               "-T", "8", "-q", "--cluster", "127.0.0.1:1"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == ["snnc: error: cannot reach the Ray cluster at 127.0.0.1:1: "
                                                "Connection refused"]  # fmt: skip


def test_a_task_that_kills_its_workers_stops_the_sweep(cluster):
    from snnc.cluster import MAX_RUNS, Task
    from snnc.errors import DOES_NOT_FIT, ResourceError

    pool = ShardPool()
    try:
        deadly = Task(0, "run", (), images=512, runs=MAX_RUNS)  # its worker died for the third time
        with pytest.raises(ResourceError, match=f"a task of 512 images killed {MAX_RUNS} workers") as raised:
            pool._replace(pool.actors[0], deadly)
        assert raised.value.exit_code == DOES_NOT_FIT
    finally:
        pool.close()
