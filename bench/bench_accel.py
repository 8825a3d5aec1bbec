"""The accel target on the Fashion-MNIST fixtures: accuracy, cycles, latency, energy.

    python bench/bench_accel.py [--limit 1000] [--configs ilif:8,if:32] [--reference] [--out bench/results/accel.jsonl]

For each fixture and (neuron, T), with and without adaptive exits (budget 0.5 points, threshold
calibrated on the bundled calibration images): the program is compiled for the default chip and
run on the first `--limit` Fashion-MNIST test images (Debian's dataset-fashion-mnist) by the
instruction-stream simulator and by the cpu target's fixed-point mode (and, with `--reference`,
by the numpy fixed-point reference too); the row says whether they agree image for image
(logits, exit steps, spike and SOP counts), then gives accuracy, steps, cycles with and without
pipelining, latency, streaming throughput, energy per image against the same network as an ANN
on the same chip, and the simulator's speed. Exit thresholds are calibrated on the cpu
fixed-point engine (the chip's own numbers).
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
from snnc.runtime.ann import execute

import snnc
from snnc.data import load_arrays

ROOT = Path(__file__).parents[1]
MODELS = ("fmnist_vgg", "fmnist_resnet")


def same_run(a, b) -> bool:
    return (np.array_equal(a.logits, b.logits) and np.array_equal(a.steps, b.steps) and a.spikes == b.spikes
            and a.sops == b.sops)  # fmt: skip


def timed(run):
    started = time.perf_counter()
    result = run()
    return result, time.perf_counter() - started


def run_config(model: str, neuron: str, steps: int, adaptive: bool, calib, test_x, test_y, reference: bool) -> dict:
    program = snnc.compile(ROOT / "examples" / f"{model}.onnx", target="accel", neuron=neuron, timesteps=steps,
                           calibration=calib)  # fmt: skip
    if adaptive:
        program = copy.deepcopy(program)
        program.calibrate_exits(calib, budget=0.5)
    program.fixed_network()  # compiled before the clock starts
    cpu, cpu_seconds = timed(lambda: program.run(test_x, engine="native-fixed"))
    sim, sim_seconds = timed(lambda: program.run(test_x))
    hardware = sim.hardware.summary()
    row = {}
    if reference:
        fixed, row["fixed_point_seconds"] = timed(lambda: program.run(test_x, engine="fixed"))
        row["identical_to_fixed_point"] = same_run(sim, fixed)
    return {
        "model": model, "neuron": neuron, "T": steps, "adaptive": adaptive, "images": len(test_x),
        "identical_to_cpu_fixed_point": same_run(sim, cpu),
        "cpu_fixed_point_seconds": cpu_seconds,
        "simulator_seconds": sim_seconds,
        **row,
        "accuracy": float((sim.logits.argmax(1) == test_y).mean()),
        "avg_timesteps": float(sim.steps.mean()),
        "sops_per_image": sum(sim.sops.values()) / len(test_x),
        **hardware,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--configs", default="ilif:8,if:32")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--exits", choices=["both", "off", "on"], default="both", help="runs without/with exits")
    parser.add_argument("--data", default="fashion-mnist", help="test images: a dataset name or a .npz")
    parser.add_argument("--reference", action="store_true", help="also run the numpy fixed-point reference (slow)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "accel.jsonl"))
    args = parser.parse_args()
    calib = np.load(ROOT / "examples" / "fmnist_calib.npz")["x"]
    test_x, test_y = load_arrays(args.data, "test", args.limit)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for model in args.models.split(","):
        ann = execute(snnc.import_onnx(ROOT / "examples" / f"{model}.onnx"), test_x)[0]
        print(f"{model}: ANN accuracy {100 * (ann.argmax(1) == test_y).mean():.2f}% on {len(test_x)} images")
        for config in args.configs.split(","):
            neuron, steps = config.split(":")
            for adaptive in {"both": (False, True), "off": (False,), "on": (True,)}[args.exits]:
                row = run_config(model, neuron, int(steps), adaptive, calib, test_x, test_y, args.reference)
                row["ann_accuracy"] = float((ann.argmax(1) == test_y).mean())
                with out.open("a") as handle:
                    handle.write(json.dumps(row) + "\n")
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
