"""Calibrating a program's adaptive exits (ATSNN) on calibration data.

1. Run the fixed-T network on the calibration set, keeping the readout's estimate after every
   step, and pick the lowest confidence threshold whose accuracy loss against the fixed-T
   network stays within the budget (runtime.adaptive.calibrate_threshold).
2. Optionally (rate coding) fit per-step readout weights: ATSNN trains with a time-dependent
   loss; on a trained model the post-training counterpart is to weigh each step's readout
   current so that the estimate at every step is as close as possible to the ANN's logits
   (runtime.adaptive.fit_step_weights, least squares in numpy). Calibrate again with them, and
   keep them only if they meet the budget (still against the unweighted fixed-T network) in
   fewer steps; the notes say which won.
3. Store the threshold (and weights) in the readout op, and how they were chosen in the
   program's settings.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from snnc import models
from snnc.errors import UsageError
from snnc.ir.ops_snn import EXIT_METRICS, Readout
from snnc.runtime import adaptive
from snnc.runtime.ann import execute
from snnc.timing import stage


def calibrate_exits(program, x: np.ndarray, labels: np.ndarray | None = None, budget: float = 0.5,
                    metric: str | None = None, step_weights: bool | None = None, threads: int | None = None,
                    engine: str | None = None, tracer=None, margin: float | None = None,
                    ) -> adaptive.ExitCalibration:  # fmt: skip
    """Make `program` stop each sample at its first confident step (in place). `metric` and
    `margin` (standard errors on the counted losses: runtime.adaptive.calibrate_threshold) None:
    the coding's defaults (rate coding: sum-softmax, 1; iLIF: max-softmax, 0). `step_weights`
    None: tried for rate coding (if, msat), not for iLIF. `tracer(program, x, steps, threads,
    engine)`: what runs the traces (default: program.run in this process; snnc/runners.py)."""
    trace_of = tracer or _trace
    coding = models.model(program.settings.neuron).coding
    metric = metric or coding.exit_metric
    margin = coding.exit_margin if margin is None else margin
    if metric not in EXIT_METRICS:
        raise UsageError(f"--exit-metric must be one of {EXIT_METRICS}, got {metric!r}")
    if not 0 <= margin < 10:
        raise UsageError(f"the exit margin is in standard errors, 0 <= z < 10; got {margin}")
    graph = program.graph
    readout = _single_readout(graph)
    adaptive.check_class_scores(graph.type(readout).sample_shape)
    if step_weights is None:
        step_weights = coding.step_weights
    if step_weights and not coding.step_weights:
        raise UsageError(f"step weights are for rate coding: {coding.name} coding gives each step a fixed weight")
    adaptive.check_calibration_size(len(x), budget)
    steps = program.settings.timesteps
    _set_readout(program, readout, exit_metric=None, step_weights=None)
    with stage("exits: fixed-T trace"):
        trace = trace_of(program, x, steps, threads, engine).trace
    fixed = trace[:, -1].argmax(axis=1)  # the fixed-T network's predictions: the budget's baseline
    result = calibrate_trace(trace, labels, budget, metric, fixed, margin)
    weights = None
    if step_weights:  # kept only if they meet the budget with fewer steps
        fitted = adaptive.fit_step_weights(currents_from_estimates(trace), execute(graph, x)[0])
        _set_readout(program, readout, step_weights=fitted)
        with stage("exits: weighted trace"):
            weighted_trace = trace_of(program, x, steps, threads, engine).trace
        weighted = calibrate_trace(weighted_trace, labels, budget, metric, fixed, margin)
        plain = result
        if weights_win(plain, weighted):
            result, weights = weighted, fitted
        verdict = "kept" if weights is not None else "dropped"
        program.notes.setdefault("exits", []).append(
            f"step weights: {weighted.mean_steps:.2f} mean steps ({100 * weighted.accuracy:.2f} %) against "
            f"{plain.mean_steps:.2f} ({100 * plain.accuracy:.2f} %) without: {verdict}"
        )
    _set_readout(program, readout, exit_metric=metric, exit_threshold=result.threshold, step_weights=weights)
    program.settings.adaptive = {"metric": metric, "budget": budget, "margin": margin,
                                 "step_weights": weights is not None,
                                 **dataclasses.asdict(result)}  # fmt: skip
    return result


def _trace(program, x: np.ndarray, steps: int, threads: int | None, engine: str | None):
    return program.run(x, steps, threads, engine=engine, trace=True)


def calibrate_trace(trace: np.ndarray, labels, budget: float, metric: str, fixed: np.ndarray,
                    margin: float = 0.0) -> adaptive.ExitCalibration:  # fmt: skip
    """The exit threshold for a (B, T, K) trace of estimates (runtime.adaptive.calibrate_threshold)."""
    conf = adaptive.confidence(trace, metric)
    return adaptive.calibrate_threshold(conf, trace.argmax(axis=2), labels, budget, fixed, margin)


def weights_win(plain: adaptive.ExitCalibration, weighted: adaptive.ExitCalibration) -> bool:
    """Step weights are kept only if they meet the budget (a threshold ≤ 1) in fewer steps."""
    return weighted.threshold <= 1 and weighted.mean_steps < plain.mean_steps


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
    changed = Readout(**{**op.attributes(), **changes})
    if changed != op:  # keep the compiled code when nothing changes
        program.graph.replace_op(name, changed)
        program.forget_native_code()
