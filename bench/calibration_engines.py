"""Calibration on onnxruntime against the numpy reference: what changes, and what it costs.

    python bench/calibration_engines.py [--out bench/results/calibration_engines.json]

Both fixtures × iLIF T=8, IF T=32, MSAT T=32, calibrated on 2,048 Fashion-MNIST training images
(the CLI's default for `--calib fashion-mnist`) with balance-thresholds{engine=onnxruntime}
(the default) and {engine=reference}; then the full 10,000-image test set on the cpu target.
Reported: the largest relative difference between the two engines' thresholds, the CPU seconds
of the balance-thresholds stage, accuracy with each, the share of test images whose prediction
differs and the relative difference in total spikes. The object and threshold cache starts
empty, so that every calibration is timed.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import snnc.passes
from snnc.targets.cpu.objcache import CACHE_ENV

import snnc
from snnc.data import calibration_set, load_arrays
from snnc.ir.ops_snn import Neuron
from snnc.timing import recording

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = (("ilif", 8), ("if", 32), ("msat", 32))


def compiled(model: Path, neuron: str, steps: int, calibration: np.ndarray, engine: str):
    passes = [f"{p}{{engine={engine}}}" if p == "balance-thresholds" else p for p in snnc.passes.DEFAULT_PASSES]
    with recording() as stages:
        program = snnc.compile(model, "cpu", steps, calibration=calibration, neuron=neuron, passes=passes)
    return program, stages.table()["balance-thresholds"]["cpu"]


def thresholds(program) -> dict[str, np.ndarray]:
    return {n.name: np.asarray(n.op.threshold) for n in program.graph.nodes() if isinstance(n.op, Neuron)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "calibration_engines.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="snnc-cache-") as cache:
        os.environ[CACHE_ENV] = cache  # empty: no calibration comes from the cache
        result = measure()
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


def measure() -> dict:
    x, y = load_arrays("fashion-mnist", "test")
    rows = []
    for fixture in ("fmnist_vgg", "fmnist_resnet"):
        model = ROOT / "examples" / f"{fixture}.onnx"
        graph = snnc.import_onnx(model)
        calibration, _ = calibration_set("fashion-mnist", graph.type(graph.inputs[0]))
        for neuron, steps in CONFIGS:
            ort_program, ort_cpu = compiled(model, neuron, steps, calibration, "onnxruntime")
            ref_program, ref_cpu = compiled(model, neuron, steps, calibration, "reference")
            ours, theirs = thresholds(ort_program), thresholds(ref_program)
            moved = max(float(np.max(np.abs(ours[n] / theirs[n] - 1))) for n in ours)
            ort_run, ref_run = ort_program.run(x), ref_program.run(x)
            ort_spikes, ref_spikes = sum(ort_run.spikes.values()), sum(ref_run.spikes.values())
            row = {
                "fixture": fixture, "neuron": neuron, "T": steps,
                "max_threshold_change": moved,
                "calibration_cpu_s": {"onnxruntime": round(ort_cpu, 2), "reference": round(ref_cpu, 2)},
                "accuracy": {"onnxruntime": float(np.mean(ort_run.logits.argmax(1) == y)),
                             "reference": float(np.mean(ref_run.logits.argmax(1) == y))},
                "predictions_differ": float(np.mean(ort_run.logits.argmax(1) != ref_run.logits.argmax(1))),
                "spikes_relative_change": float(ort_spikes / ref_spikes - 1),
            }  # fmt: skip
            rows.append(row)
            print(json.dumps(row), flush=True)
    return {"command": "python bench/calibration_engines.py", "test_images": len(x), "rows": rows}


if __name__ == "__main__":
    main()
