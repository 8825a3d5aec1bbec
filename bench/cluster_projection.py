"""What an ImageNet sweep would take on N workers, from costs measured here.

    python bench/cluster_projection.py [--out bench/results/cluster_projection.json]

The sweep: 50,000 images × IF, iLIF, MSAT × 4 T (IF and MSAT T = 8, 16, 32, 64; iLIF, whose
engines stop at 31 steps, T = 4, 8, 16, 31). Measured on the suite's ImageNet ResNet-18
(`snnc zoo resnet18`: random He-initialized weights, so its spike rates are not a trained
network's), one thread, 64 calibration images of uniform noise, for each configuration:

    d_c  the driver's compile (import, calibration, passes), seconds
    k_c  a worker's build of the native code (its first run on one image less a steady one), seconds
    t_c  seconds per image once built (the median of 2 runs of 2 images)

and, from bench/results/cluster_sweep.json, o: the seconds per task a worker spends outside the
simulation (shipping, dispatch, scheduling and idle time included: an upper bound). With shards
of S = 512 images, n = ⌈50,000 / S⌉ tasks per configuration, the projected wall time on N
workers is

    W(N) = d_1 + max(Σ d_c, Σ_c (50,000 · t_c + n · o) / N + Σ k_c)

the driver compiling one configuration after another while the workers run the earlier ones,
and every worker building each configuration once. It assumes the workers are as fast as this
machine's cores and that shards spread evenly (N ≤ n · C). k is measured with this machine's
object cache as it stands (a hit is a load, so k can be an underestimate for a fresh node); iLIF
compiles once per sweep (its thresholds do not depend on T), as `snnc eval` does.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import time
import warnings
from pathlib import Path

import numpy as np

import snnc
from snnc import zoo

ROOT = Path(__file__).resolve().parents[1]
IMAGES, SHARD = 50_000, 512
CONFIGS = {"if": [8, 16, 32, 64], "msat": [8, 16, 32, 64], "ilif": [4, 8, 16, 31]}
WORKERS = [1, 2, 8, 32, 128, 512]


def measure(model: bytes, calibration: np.ndarray, x: np.ndarray, neuron: str, steps: int) -> dict:
    began = time.process_time()
    program = snnc.compile(model, neuron=neuron, timesteps=steps, calibration=calibration)
    compile_s = time.process_time() - began
    began = time.process_time()
    program.run(x[:1], threads=1)
    first = time.process_time() - began
    per_image = []
    for _ in range(2):
        began = time.process_time()
        program.run(x, threads=1)
        per_image.append((time.process_time() - began) / len(x))
    t = statistics.median(per_image)
    return {"neuron": neuron, "T": steps, "compile_s": round(compile_s, 2), "build_s": round(max(first - t, 0), 2),
            "s_per_image": round(t, 4)}  # fmt: skip


def project(rows: list[dict], overhead: float) -> list[dict]:
    tasks = math.ceil(IMAGES / SHARD)
    driver = sum(r["compile_s"] for r in rows)
    work = sum(IMAGES * r["s_per_image"] + tasks * overhead for r in rows)
    builds = sum(r["build_s"] for r in rows)
    return [{"workers": n, "hours": round((rows[0]["compile_s"] + max(driver, work / n + builds)) / 3600, 2)}
            for n in WORKERS]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "cluster_projection.json")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    model = zoo.build("resnet18").SerializeToString()
    rng = np.random.default_rng(0)
    calibration = rng.uniform(0, 1, (64, 3, 224, 224)).astype(np.float32)
    x = rng.uniform(0, 1, (2, 3, 224, 224)).astype(np.float32)
    rows = [measure(model, calibration, x, neuron, steps) for neuron, ts in CONFIGS.items() for steps in ts]
    sweep = json.loads((ROOT / "bench" / "results" / "cluster_sweep.json").read_text())
    overhead = sweep["cluster"]["other_s_per_task"]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    single = sum(r["compile_s"] + IMAGES * r["s_per_image"] for r in rows)
    result = {
        "commit": commit.stdout.strip(),
        "network": "resnet18 (snnc zoo, 224², random weights)",
        "images": IMAGES,
        "shard": SHARD,
        "overhead_s_per_task": overhead,
        "configurations": rows,
        "projection": project(rows, overhead),
        "single_process_hours": round(single / 3600, 2),
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "configurations"}, indent=1))


if __name__ == "__main__":
    main()
