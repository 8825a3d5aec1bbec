"""The same sweep in one process and on a local Ray cluster of two workers (snnc eval --cluster).

    python bench/cluster_sweep.py [--images 10000] [--out bench/results/cluster_sweep.json]

Both fixtures × iLIF at T = 4, 8, 16 and IF, MSAT at T = 8, 16, 32, on the first `--images` Fashion-MNIST test
images (calibration: the first 512 training images, as `snnc eval` takes them). One process with
one thread, then a cluster started on this machine (a head without CPUs and two worker nodes of
one CPU each; every worker one thread), each with an empty object and threshold cache: the two
reports must be equal, image by image, but for
their timings. Recorded per mode: wall seconds, and for the cluster its tasks, the seconds its
workers spent simulating, and what the rest cost per task. Run nothing else meanwhile: two
workers fill this machine's two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from snnc.evaluate import evaluate

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ("fmnist_vgg", "fmnist_resnet")
# three T per neuron model, each within its engines' limit (iLIF's bits stop at 31)
GROUPS = ((["ilif"], [4, 8, 16]), (["if", "msat"], [8, 16, 32]))
SWEEP = dict(threads=1, quiet=True, per_image=True)


def untimed(report: dict) -> dict:
    rows = [{k: v for k, v in row.items() if k != "speed"} for row in report["results"]]
    ann = {k: v for k, v in report["ann"].items() if k != "speed"}
    return {**{k: v for k, v in report.items() if k != "cluster"}, "results": rows, "ann": ann}


def sweep(images: int, pool=lambda: None) -> tuple[list[dict], float]:
    """One report per fixture and group of neuron models, and the wall seconds they took all together;
    `pool()`: the cluster for each evaluation (None: this process)."""
    began = time.perf_counter()
    reports = [evaluate(str(ROOT / "examples" / f"{name}.onnx"), "fashion-mnist", neurons, steps, limit=images,
                        cluster=pool(), **SWEEP) for name in FIXTURES for neurons, steps in GROUPS]  # fmt: skip
    return reports, time.perf_counter() - began


def local_cluster(workers: int):
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    for _ in range(workers):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False, configure_logging=False)
    return cluster


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "cluster_sweep.json")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    from snnc.cluster import ShardPool

    caches = tempfile.TemporaryDirectory()  # each mode compiles and calibrates from scratch
    os.environ["SNNC_CACHE_DIR"] = f"{caches.name}/single"
    single, single_wall = sweep(args.images)
    single_cpu = resource.getrusage(resource.RUSAGE_SELF).ru_utime + resource.getrusage(resource.RUSAGE_SELF).ru_stime
    os.environ["SNNC_CACHE_DIR"] = f"{caches.name}/cluster"  # the workers inherit it
    cluster = local_cluster(args.workers)
    try:
        spread, spread_wall = sweep(args.images, lambda: ShardPool(workers=args.workers, threads=1))
    finally:
        import ray

        ray.shutdown()
        cluster.shutdown()
    stats = [r["cluster"] for r in spread]
    tasks = sum(s["tasks"] for s in stats)
    worker_seconds = sum(sum(s["worker_seconds"].values()) for s in stats)
    run_seconds = sum(s["worker_seconds"].get("run", 0.0) for s in stats)
    result = {
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                 cwd=ROOT).stdout.strip(),  # fmt: skip
        "images": args.images,
        "fixtures": list(FIXTURES),
        "groups": [{"neurons": neurons, "timesteps": steps} for neurons, steps in GROUPS],
        "identical": [untimed(a) == untimed(b) for a, b in zip(single, spread)],
        "single": {"wall_s": round(single_wall, 1), "cpu_s": round(single_cpu, 1),
                   "run_s": round(sum(r["speed"]["wall_s"] for rep in single for r in rep["results"]), 1)},
        "cluster": {"workers": args.workers, "wall_s": round(spread_wall, 1), "tasks": tasks,
                    "worker_run_s": round(run_seconds, 1),
                    "worker_calibration_s": round(worker_seconds - run_seconds, 1),
                    "retried_tasks": sum(s["retried_tasks"] for s in stats),
                    "other_s_per_task": round((args.workers * spread_wall - worker_seconds) / tasks, 3)},
        "rows": [{"fixture": name, "neuron": a["neuron"], "T": a["timesteps"], "accuracy": a["accuracy"],
                  "single_run_s": a["speed"]["wall_s"], "cluster_worker_s": b["speed"]["wall_s"]}
                 for rep_a, rep_b in zip(single, spread)
                 for name in [Path(rep_a["model"]).stem] for a, b in zip(rep_a["results"], rep_b["results"])],
    }  # fmt: skip
    result["speedup"] = round(single_wall / spread_wall, 2)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=1))
    if not all(result["identical"]):
        sys.exit("the cluster's reports differ from the single process's")


if __name__ == "__main__":
    main()
