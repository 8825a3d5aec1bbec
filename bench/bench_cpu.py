"""The cpu target against the numpy reference simulator and onnxruntime (the ANN), side by side.

    python bench/bench_cpu.py [--repeats 5] [--numeric float|fixed] [--out bench/results/cpu.jsonl]

For each Fashion-MNIST fixture and (neuron, T): images per second at batch 1 and 64 (medians of
`--repeats` runs; every engine uses all cores), the first compile against a second one served
from the object cache, and the process's peak memory after compiling and after running.
With `--numeric fixed`, the fixed-point mode (int8 weights, integer state) against the numpy
fixed-point reference (runtime/fixed.py) instead of the float32 code against runtime/snn.py.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from snnc.runtime.fixed import simulate_fixed
from snnc.runtime.snn import simulate
from snnc.targets.cpu.llvm import ObjectCache
from snnc.targets.cpu.runner import CompiledNetwork, FixedNetwork

import snnc

ROOT = Path(__file__).parents[1]
MODELS = ("fmnist_vgg", "fmnist_resnet")
CONFIGS = (("ilif", 8), ("if", 32), ("msat", 32))
REFERENCE_BATCH1_IMAGES = 4  # the reference is slow; batch-1 figures average this many images


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def engines(program, steps: int, numeric: str):
    """(build(cache) → network, run(network, x), reference(x)) for a numeric mode."""
    if numeric == "float":
        graph = program.graph
        return (lambda cache: CompiledNetwork(graph, cache), lambda net, x: net.run(x, steps),
                lambda x: simulate(graph, x, steps))  # fmt: skip
    qnet = program.qnet(steps)
    return lambda cache: FixedNetwork(qnet, cache), lambda net, x: net.run(x), lambda x: simulate_fixed(qnet, x)


def bench_program(program, steps: int, x: np.ndarray, repeats: int, numeric: str) -> dict:
    """Compile times (first, cached), peak memory, and seconds per image of the JIT and the
    reference at batch 1 and 64."""
    build, run, simulate_reference = engines(program, steps, numeric)
    with tempfile.TemporaryDirectory() as directory:
        cache = ObjectCache(directory)
        start = time.perf_counter()
        net = build(cache)
        first = time.perf_counter() - start
        second = median_time(lambda: build(cache), repeats)
    memory_compiled = peak_mib()
    jit = {b: median_time(lambda b=b: run(net, x[:b]), repeats) / b for b in (1, 64)}
    memory_run = peak_mib()
    few = REFERENCE_BATCH1_IMAGES
    batch1 = lambda: [simulate_reference(x[i : i + 1]) for i in range(few)]  # noqa: E731
    reference = {
        1: median_time(batch1, max(1, repeats // 2)) / few,
        64: median_time(lambda: simulate_reference(x[:64]), max(1, repeats // 2)) / 64,
    }
    return {
        "compile_s": first, "cached_compile_s": second, "cache_speedup": first / second,
        "peak_mib_after_compile": memory_compiled, "peak_mib_after_run": memory_run,
        **{f"times{b}": {"jit": jit[b], "reference": reference[b]} for b in (1, 64)},
    }  # fmt: skip


def bench_model(name: str, x: np.ndarray, calibration: np.ndarray, repeats: int, neurons, numeric: str) -> list[dict]:
    path = ROOT / "examples" / f"{name}.onnx"
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    ort_time = {b: median_time(lambda b=b: session.run(None, {input_name: x[:b]}), repeats) / b for b in (1, 64)}
    rows = []
    for neuron, steps in CONFIGS:
        if neuron not in neurons:
            continue
        program = snnc.compile(path, neuron=neuron, timesteps=steps, calibration=calibration)
        row = {"model": name, "neuron": neuron, "timesteps": steps, "numeric": numeric,
               **bench_program(program, steps, x, repeats, numeric)}  # fmt: skip
        for batch in (1, 64):
            times = row.pop(f"times{batch}")
            row[f"batch{batch}"] = {
                "jit_images_per_s": 1 / times["jit"],
                "reference_images_per_s": 1 / times["reference"],
                "onnxruntime_ann_images_per_s": 1 / ort_time[batch],
                "jit_over_reference_speedup": times["reference"] / times["jit"],
                "jit_time_over_ann_time": times["jit"] / ort_time[batch],
            }
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "cpu.jsonl"))
    parser.add_argument("--neurons", default="ilif,if,msat", help="which of the configurations to run")
    parser.add_argument("--numeric", choices=["float", "fixed"], default="float",
                        help="fixed: the fixed-point mode against the numpy fixed-point reference")  # fmt: skip
    args = parser.parse_args()
    x = np.load(ROOT / "examples" / "fmnist_test.npz")["x"][:64]
    calibration = np.load(ROOT / "examples" / "fmnist_calib.npz")["x"]
    neurons = args.neurons.split(",")
    rows = [row for name in MODELS for row in bench_model(name, x, calibration, args.repeats, neurons, args.numeric)]
    Path(args.out).write_text("".join(json.dumps(row) + "\n" for row in rows))


if __name__ == "__main__":
    main()
