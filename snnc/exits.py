"""Calibrating a program's adaptive exits (ATSNN) on calibration data.

1. Optionally fit per-step readout weights (rate coding): ATSNN trains with a time-dependent
   loss; on a trained model the post-training counterpart is to weigh each step's readout
   current so that the estimate at every step is as close as possible to the ANN's logits
   (runtime.adaptive.fit_step_weights, least squares in numpy).
2. Run the fixed-T network on the calibration set, keeping the readout's estimate after every
   step, and pick the lowest confidence threshold whose accuracy loss against the fixed-T
   network stays within the budget (runtime.adaptive.calibrate_threshold).
3. Store both in the readout op, and how they were chosen in the program's settings.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from snnc.errors import UsageError
from snnc.ir.ops_snn import EXIT_METRICS, Readout
from snnc.runtime import adaptive
from snnc.runtime.ann import execute


def calibrate_exits(program, x: np.ndarray, labels: np.ndarray | None = None, budget: float = 0.5,
                    metric: str = "max-softmax", step_weights: bool = False, threads: int | None = None,
                    engine: str | None = None) -> adaptive.ExitCalibration:  # fmt: skip
    """Make `program` stop each sample at its first confident step (in place)."""
    if metric not in EXIT_METRICS:
        raise UsageError(f"--exit-metric must be one of {EXIT_METRICS}, got {metric!r}")
    graph = program.graph
    readout = _single_readout(graph)
    adaptive.check_class_scores(graph.type(readout).sample_shape)
    if step_weights and program.settings.neuron == "ilif":
        raise UsageError("step weights are for rate coding (if, msat): iLIF's bits have fixed weights")
    adaptive.check_calibration_size(len(x), budget)
    steps = program.settings.timesteps
    _set_readout(program, readout, exit_metric=None, step_weights=None)
    trace = program.run(x, steps, threads, engine=engine, trace=True).trace
    fixed = trace[:, -1].argmax(axis=1)  # the fixed-T network's predictions: the budget's baseline
    if step_weights:
        weights = adaptive.fit_step_weights(currents_from_estimates(trace), execute(graph, x)[0])
        _set_readout(program, readout, step_weights=weights)
        trace = program.run(x, steps, threads, engine=engine, trace=True).trace
    conf = adaptive.confidence(trace, metric)
    result = adaptive.calibrate_threshold(conf, trace.argmax(axis=2), labels, budget, fixed)
    _set_readout(program, readout, exit_metric=metric, exit_threshold=result.threshold)
    program.settings.adaptive = {"metric": metric, "budget": budget, "step_weights": step_weights,
                                 **dataclasses.asdict(result)}  # fmt: skip
    return result


def currents_from_estimates(trace: np.ndarray) -> np.ndarray:
    """(B, T, K) unweighted estimates Z_t = S_t/(t + 1) → (T, B, K) per-step currents z_t."""
    counts = np.arange(1, trace.shape[1] + 1, dtype=np.float64)[None, :, None]
    sums = trace.astype(np.float64) * counts
    currents = np.diff(sums, axis=1, prepend=0.0)
    return np.swapaxes(currents, 0, 1)


def _single_readout(graph) -> str:
    readouts = [o for o in graph.outputs if isinstance(graph.op(o), Readout)]
    if len(graph.outputs) != 1 or len(readouts) != 1:
        raise UsageError(f"adaptive timesteps need a network with one output, this one has {len(graph.outputs)}")
    return readouts[0]


def _set_readout(program, name: str, **changes) -> None:
    op = program.graph.op(name)
    program.graph.replace_op(name, Readout(**{**op.attributes(), **changes}))
    program.forget_native_code()
