"""Exit thresholds with a confidence margin, on held-out images only: is the budget held on
images the threshold was not chosen on, and what does a margin cost in steps?

    python bench/exit_margin.py [NAME ...]   # → bench/results/exit_margin.jsonl

Each network of the suite and both fixtures, IF and MSAT at T = 64 with their defaults,
calibrated on held-out images 0–511 (as bench/rate_suite.py). Exits are calibrated as
`program.calibrate_exits` does (budget 0.5 points, max-softmax, step weights tried) on held-out
images 1,000–2,999; then, on that split's traces, the threshold is chosen again
(`runtime.adaptive.calibrate_threshold`) with three margins: none (z = 0: the losses counted),
or the losses' Wilson upper confidence bound at z = 1 or z = 1.645, within the budget. Each
rule's threshold is measured on held-out images 3,000–4,999 (net points lost against the fixed-T
network, and the share of steps saved). The test set is not used. The fixtures were trained on
these images: their rows are optimistic.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from rate_suite import FIXTURES, SUITE, held_out
from snnc.runtime import adaptive

import snnc
from snnc import exits

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "exit_margin.jsonl"
MODELS = {path.stem.removeprefix("fmnist_"): path for path in SUITE + FIXTURES}
STEPS, BUDGET, MARGINS = 64, 0.5, (0.0, 1.0, 1.645)


def measure(conf: np.ndarray, predictions: np.ndarray, fixed: np.ndarray, labels: np.ndarray, value: float) -> dict:
    """Net points lost against the fixed-T network's predictions `fixed`, and steps saved."""
    exit_at = adaptive.exit_steps(conf, value)
    adaptive_accuracy = (predictions[np.arange(len(conf)), exit_at] == labels).mean() * 100
    return {"lost": round(float((fixed == labels).mean() * 100 - adaptive_accuracy), 2),
            "fewer_steps": round(float(1 - (exit_at + 1).mean() / conf.shape[1]) * 100, 1)}  # fmt: skip


def row(name: str, neuron: str, held_x: np.ndarray, held_y: np.ndarray) -> dict:
    program = snnc.compile(MODELS[name], neuron=neuron, timesteps=STEPS, calibration=held_x[:512])
    splits = {
        "chosen on": (held_x[1000:3000], held_y[1000:3000]),
        "measured on": (held_x[3000:5000], held_y[3000:5000]),
    }
    program.calibrate_exits(*splits["chosen on"], budget=BUDGET, threads=2)  # step weights, as snnc keeps them
    readout = exits._single_readout(program.graph)
    weights = program.graph.op(readout).step_weights
    # the baseline: the fixed-T network, whose readout weighs every step alike (as calibrate_exits's)
    exits._set_readout(program, readout, exit_threshold=adaptive.NEVER, step_weights=None)
    fixed = {key: program.run(x, STEPS, 2, trace=True).trace[:, -1].argmax(axis=1) for key, (x, _) in splits.items()}
    exits._set_readout(program, readout, step_weights=weights)  # the exits' estimates, whole traces
    traces = {key: program.run(x, STEPS, 2, trace=True).trace for key, (x, _) in splits.items()}
    conf = {key: adaptive.confidence(trace, "max-softmax") for key, trace in traces.items()}
    predictions = {key: trace.argmax(axis=2) for key, trace in traces.items()}
    result = {"network": name, "neuron": neuron, "T": STEPS, "step_weights": weights is not None}
    for z in MARGINS:
        value = adaptive.calibrate_threshold(conf["chosen on"], predictions["chosen on"], splits["chosen on"][1],
                                             BUDGET, fixed["chosen on"], margin=z).threshold  # fmt: skip
        result[f"z={z:g}"] = {key: measure(conf[key], predictions[key], fixed[key], labels, value)
                              for key, (_, labels) in splits.items()}  # fmt: skip
    return result


def main() -> None:
    held_x, held_y = held_out()
    done = {(r["network"], r["neuron"]) for r in map(json.loads, RESULTS.read_text().splitlines())} \
        if RESULTS.exists() else set()  # fmt: skip
    for name in sys.argv[1:] or MODELS:
        for neuron in ("if", "msat"):
            if (name, neuron) not in done:
                with RESULTS.open("a") as out:
                    out.write(json.dumps(row(name, neuron, held_x, held_y)) + "\n")


if __name__ == "__main__":
    main()
