"""Exit rules on held-out images only: which confidence, and which margin on the counted losses,
holds the accuracy budget on images the threshold was not chosen on, and what each saves.

    python bench/exit_rules.py [NAME ...]   # → bench/results/exit_rules.jsonl

Each network of the suite and both fixtures, IF and MSAT at T = 64 with their defaults,
calibrated on held-out images 0–511 (as bench/rate_suite.py). One traced run over held-out
images 1,000–4,999 gives every step's readout estimate; step weights are fitted on images
1,000–2,999 (`runtime.adaptive.fit_step_weights`) and the weighted estimates are the reference's
formula (`runtime.adaptive.rate_estimates`) on the same currents. For each rule, a confidence
metric (`runtime.adaptive.confidence`) and a margin z (the counted losses' Wilson upper bound,
z standard errors, must fit the budget; z = 0: the count itself), the threshold is chosen on
images 1,000–2,999 as `calibrate_exits` does (budget 0.5 points, step weights kept if they meet
it in fewer steps: `exits.weights_win`) and measured on images 3,000–4,999: net points lost
against the fixed-T network, and the share of steps saved. The test set is not used. The
fixtures were trained on these images: their rows are optimistic.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from rate_suite import FIXTURES, SUITE, append, finished, held_out
from snnc.runtime import adaptive
from snnc.runtime.ann import execute

import snnc
from snnc import exits

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "exit_rules.jsonl"
MODELS = {path.stem.removeprefix("fmnist_"): path for path in SUITE + FIXTURES}
STEPS, BUDGET = 64, 0.5
RULES = [("max-softmax", 0.0), ("max-softmax", 1.0), ("sum-softmax", 0.0), ("sum-softmax", 0.5),
         ("sum-softmax", 1.0), ("sum-softmax", 1.645)]  # fmt: skip
CHOSEN_ON, MEASURED_ON = slice(0, 2000), slice(2000, 4000)  # of held-out images 1,000–4,999


def measure(trace: np.ndarray, fixed: np.ndarray, labels: np.ndarray, metric: str, threshold: float) -> dict:
    """Net points lost against the fixed-T network's predictions `fixed`, and steps saved."""
    exit_at = adaptive.exit_steps(adaptive.confidence(trace, metric), threshold)
    accuracy = (trace.argmax(axis=2)[np.arange(len(trace)), exit_at] == labels).mean() * 100
    return {"lost": round(float((fixed == labels).mean() * 100 - accuracy), 2),
            "fewer_steps": round(float(1 - (exit_at + 1).mean() / trace.shape[1]) * 100, 1)}  # fmt: skip


def rule(traces: dict, fixed: np.ndarray, labels: np.ndarray, metric: str, z: float) -> dict:
    """Calibrate on CHOSEN_ON as calibrate_exits does (plain, and weighted if that wins), measure both splits."""
    calibrations = {kind: exits.calibrate_trace(trace[CHOSEN_ON], labels[CHOSEN_ON], BUDGET, metric,
                                                fixed[CHOSEN_ON], margin=z)
                    for kind, trace in traces.items()}  # fmt: skip
    kind = "weighted" if exits.weights_win(calibrations["plain"], calibrations["weighted"]) else "plain"
    threshold = calibrations[kind].threshold
    return {"step_weights": kind == "weighted", "threshold": threshold,
            **{name: measure(traces[kind][part], fixed[part], labels[part], metric, threshold)
               for name, part in (("chosen on", CHOSEN_ON), ("measured on", MEASURED_ON))}}  # fmt: skip


def row(name: str, neuron: str, held_x: np.ndarray, held_y: np.ndarray) -> dict:
    program = snnc.compile(MODELS[name], neuron=neuron, timesteps=STEPS, calibration=held_x[:512])
    x, labels = held_x[1000:5000], held_y[1000:5000]
    plain = program.run(x, STEPS, 2, trace=True).trace
    currents = exits.currents_from_estimates(plain)
    weights = adaptive.fit_step_weights(currents[:, CHOSEN_ON], execute(program.graph, x[CHOSEN_ON])[0])
    traces = {"plain": plain, "weighted": adaptive.rate_estimates(currents.astype(np.float32), weights)}
    fixed = plain[:, -1].argmax(axis=1)  # the fixed-T network: the budget's baseline
    result = {"network": name, "neuron": neuron, "T": STEPS}
    for metric, z in RULES:
        result[f"{metric} z={z:g}"] = rule(traces, fixed, labels, metric, z)
    return result


def main() -> None:
    held_x, held_y = held_out()
    done = finished(RESULTS, "network", "neuron")
    for name in sys.argv[1:] or MODELS:
        for neuron in ("if", "msat"):
            if (name, neuron) not in done:
                append(RESULTS, row(name, neuron, held_x, held_y))


if __name__ == "__main__":
    main()
