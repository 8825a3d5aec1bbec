"""The model suite on the cpu target: compile time, peak memory and images/s against onnxruntime.

    python bench/suite.py [--networks a,b,...] [--rounds 5] [--out bench/results/suite.json]

For every network of `snnc zoo --list` (seeded random weights, torchvision's layouts), iLIF T=8,
64 calibration images (uniform in [0, 1), seed 1):
- first compile: `snnc compile` in a fresh process with an empty object cache; CPU seconds
  (user + system, all threads) and peak resident memory of that process (wait4), and its
  stage table (`--json`'s "stages");
- cached compile: the same command again, with the cache the first one filled;
- throughput, one thread each: the compiled program (`snnc.load`) against onnxruntime's ANN on
  the original model, on the same batch (64 images at 32², 8 at 224²), in `--rounds` paired
  rounds (JIT then ANN, one after the other); the median of the per-round ratios JIT ÷ ANN,
  and the top-1 agreement between them (random weights: a sanity figure, not an accuracy).
Every measurement runs alone (one process at a time; never two BLAS-heavy jobs at once).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from snnc import zoo

ROOT = Path(__file__).resolve().parents[1]
CALIBRATION = 64


def batch_for(name: str) -> int:
    return 64 if name.startswith("cifar") else 8


def side(name: str) -> int:
    return 32 if name.startswith("cifar") else 224


def measured(command: list[str], env: dict) -> tuple[dict, float, float]:
    """(the command's JSON output, CPU seconds, peak RSS in MiB) of one child process."""
    with tempfile.TemporaryFile() as out:
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.PIPE, env=env)
        _, status, usage = os.wait4(child.pid, 0)
        stderr = child.stderr.read().decode(errors="replace")
        child.stderr.close()
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {stderr.strip()[-2000:]}")
        out.seek(0)
        text = out.read().decode()
    return json.loads(text) if text.strip() else {}, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def compile_row(name: str, work: Path) -> dict:
    model, calib = work / f"{name}.onnx", work / f"{name}_calib.npz"
    # In a child of its own: a child's peak memory counts what it inherited at the fork, so this
    # process stays small (VGG-16's weights alone are 553 MB).
    subprocess.run([sys.executable, "-m", "snnc", "zoo", name, "-o", str(model), "--seed", "0"], check=True,
                   capture_output=True)  # fmt: skip
    rng = np.random.default_rng(1)
    np.savez(calib, x=rng.random((CALIBRATION, 3, side(name), side(name)), dtype=np.float32))
    env = {**os.environ, "SNNC_CACHE_DIR": str(work / f"cache-{name}"), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "snnc", "compile", str(model), "--calib", str(calib), "--neuron", "ilif",
               "-T", "8", "-o", str(work / f"{name}.snnc"), "--json"]  # fmt: skip
    first, first_cpu, first_rss = measured(command, env)
    cached, cached_cpu, cached_rss = measured(command, env)
    return {
        "network": name,
        "macs_per_image": first["ann_macs_per_image"],
        "first_compile_cpu_s": round(first_cpu, 2),
        "first_compile_peak_mib": round(first_rss),
        "cached_compile_cpu_s": round(cached_cpu, 2),
        "cached_compile_peak_mib": round(cached_rss),
        "stages": first["stages"],
        "cached_stages": cached["stages"],
    }


def throughput(name: str, work: str, rounds: int) -> dict:
    """Run in a child process (one thread): JIT ÷ onnxruntime, paired rounds."""
    import onnxruntime as ort

    import snnc

    program = snnc.load(Path(work) / f"{name}.snnc")
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(Path(work) / f"{name}.onnx"), options, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(2).random((batch_for(name), 3, side(name), side(name)), dtype=np.float32)
    feed = {session.get_inputs()[0].name: x}
    snn = program.run(x, threads=1)  # warm-up (and the agreement)
    ann = session.run(None, feed)[0]
    jit_times, ann_times = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        program.run(x, threads=1)
        jit_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        session.run(None, feed)
        ann_times.append(time.perf_counter() - start)
    ratios = [j / a for j, a in zip(jit_times, ann_times)]
    return {
        "batch": len(x),
        "jit_images_per_s": round(len(x) / statistics.median(jit_times), 2),
        "ann_images_per_s": round(len(x) / statistics.median(ann_times), 2),
        "jit_over_ann": round(statistics.median(ratios), 3),
        "top1_agreement": float(np.mean(snn.logits.argmax(1) == ann.argmax(1))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", default=",".join(zoo.names()))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "suite.json"))
    parser.add_argument("--throughput", nargs=2, metavar=("NAME", "WORK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.throughput:
        print(json.dumps(throughput(*args.throughput, args.rounds)))
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="snnc-suite-") as work:
        for name in args.networks.split(","):
            row = compile_row(name, Path(work))
            env = {**os.environ, "SNNC_CACHE_DIR": str(Path(work) / f"cache-{name}"), "OMP_NUM_THREADS": "1"}
            command = [sys.executable, __file__, "--rounds", str(args.rounds), "--throughput", name, work]
            row.update(measured(command, env)[0])
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if "stages" not in k}), flush=True)
            (Path(work) / f"{name}.snnc").unlink()
    result = {"command": " ".join(["python", "bench/suite.py", *sys.argv[1:]]), "neuron": "ilif", "timesteps": 8,
              "calibration_images": CALIBRATION, "cpu": _cpu_name(), "rows": rows}  # fmt: skip
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


def _cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


if __name__ == "__main__":
    main()
