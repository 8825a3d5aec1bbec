"""Adaptive exits (IF and MSAT, T = 64) with the rate-coding defaults of issue 26, on every
network of the held-out suite and both fixtures: average steps and accuracy against the
fixed-T network, on the test set.

    python bench/rate_exits.py [NAME ...]   # → bench/results/rate_exits.jsonl (the table: bench/docs.py)

Calibration: thresholds and bias correction on held-out training images 0–511 (as
bench/rate_suite.py); the exit threshold (budget 0.5 points against the fixed-T network, the
rate-coding defaults chosen in bench/exit_rules.py: sum-softmax, margin z = 1, step weights
tried) on held-out images 1,000–2,999 with their labels, images the network was not
calibrated on; then the whole Fashion-MNIST test set. Rows are appended as they finish; a row
already there is not run again.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rate_suite import FIXTURES, SUITE, append, finished, held_out  # the same networks and held-out split

import snnc
from snnc.datasets import fashion_mnist

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "rate_exits.jsonl"
MODELS = {path.stem.removeprefix("fmnist_"): path for path in SUITE + FIXTURES}
STEPS = 64


def main() -> None:
    held_x, held_y = held_out()
    test_x, test_y = fashion_mnist("test")
    done = finished(RESULTS, "network", "neuron")
    for name in sys.argv[1:] or MODELS:
        for neuron in ("if", "msat"):
            if (name, neuron) in done:
                continue
            program = snnc.compile(MODELS[name], neuron=neuron, timesteps=STEPS, calibration=held_x[:512])
            fixed = (program.run(test_x, threads=2).logits.argmax(1) == test_y).mean() * 100
            program.calibrate_exits(held_x[1000:3000], held_y[1000:3000], budget=0.5, threads=2)
            early = program.run(test_x, threads=2)
            adaptive = (early.logits.argmax(1) == test_y).mean() * 100
            row = dict(network=name, neuron=neuron, T=STEPS, fixed=float(fixed), adaptive=float(adaptive),
                       lost=round(float(fixed - adaptive), 2), mean_steps=float(early.steps.mean()),
                       fewer_steps=round(float(1 - early.steps.mean() / STEPS) * 100, 1),
                       metric=program.settings.adaptive["metric"], margin=program.settings.adaptive["margin"],
                       notes=program.notes.get("exits", []))  # fmt: skip
            append(RESULTS, row)


if __name__ == "__main__":
    main()
