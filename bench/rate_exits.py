"""Adaptive exits (IF, T = 64) with the rate-coding defaults of issue 26, on the held-out suite's
deep CNNs: average steps and accuracy against the fixed-T network, on the test set.

    python bench/rate_exits.py [NAME ...]   # → bench/results/rate_exits.jsonl

Calibration: thresholds and bias correction on held-out training images 0–511 (as
bench/rate_suite.py), the exit threshold (budget 0.5 points, step weights tried) on held-out
images 0–999 with their labels; then the whole Fashion-MNIST test set.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import snnc
from snnc.datasets import fashion_mnist

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    x, y = fashion_mnist("train")
    held_x, held_y = x[-5000:], y[-5000:]
    test_x, test_y = fashion_mnist("test")
    for name in sys.argv[1:] or ["densenet", "mobilenet", "preact"]:
        program = snnc.compile(ROOT / "examples" / "suite" / f"fmnist_{name}.onnx", neuron="if", timesteps=64,
                               calibration=held_x[:512])  # fmt: skip
        fixed = (program.run(test_x, threads=2).logits.argmax(1) == test_y).mean() * 100
        program.calibrate_exits(held_x[:1000], held_y[:1000], budget=0.5)
        early = program.run(test_x, threads=2)
        row = dict(network=name, neuron="if", T=64, fixed=float(fixed),
                   adaptive=float((early.logits.argmax(1) == test_y).mean() * 100),
                   mean_steps=float(early.steps.mean()), notes=program.notes.get("exits", []))  # fmt: skip
        with (ROOT / "bench" / "results" / "rate_exits.jsonl").open("a") as out:
            out.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
