"""Adaptive timesteps (ATSNN-style early exit), shared by every engine.

The readout's *estimate* after step t is the output the network would give if it stopped
there. Rate coding (IF, MSAT): the weighted mean of the readout currents so far,
Z_t = Σ_{τ≤t} w_τ·z_τ / (t + 1) (w = 1 without fitted step weights). iLIF: the value of the
bits received so far, most significant first, E_t = Σ_{τ≤t} 2^−(τ+1)·X_τ + 2^−T·c, which is
the full output at t = T − 1.

Confidence of an estimate with K classes: the largest softmax probability p ("max-softmax"), or
1 − H/ln K with H the entropy of the softmax ("entropy"), or, rate coding's default,
"sum-softmax": the largest softmax probability of the readout's running sum S_t = (t + 1)·Z_t
(the evidence so far, not its mean), reported as 1 − 1/(1 + ln(1 + 1/r)) with
r = Σ_{j ≠ top} exp(S_j − S_top). That is 1 − 1/(1 − ln(1 − p)), the same order as p, but a
sum's top class soon leads by more than the ~17 at which float32 rounds p to 1, and thresholds
there must still tell samples apart. All are in [0, 1], computed in float32 by every engine
alike. A sample exits at the first step whose confidence is ≥ the threshold (the last step
otherwise).

Why the sum: a rate-coded estimate's error shrinks as 1/t (what a neuron still holds in its
membrane is spread over the steps run), so the margin between the first two classes that an
early step needs to be right is larger than a late step's. The softmax of the mean asks every
step for the same margin and exits on early, confidently wrong estimates; the softmax of the
sum asks for a margin ∝ 1/(t + 1) (bench/exit_rules.py, held-out images).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from snnc.errors import DataError, UsageError

NEVER = 2.0  # an exit threshold no confidence reaches
MIN_SAMPLES = 100  # below this a calibration set cannot say anything about accuracy


def rate_estimates(currents: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """(T, B, ...) per-step readout currents → (B, T, ...) estimates Z_t."""
    steps, per_step = len(currents), (-1,) + (1,) * (currents.ndim - 1)
    weighted = currents if weights is None else currents * weights.astype(np.float32).reshape(per_step)
    sums = np.cumsum(weighted, axis=0, dtype=np.float32)
    counts = np.arange(1, steps + 1, dtype=np.float32).reshape(per_step)
    return np.ascontiguousarray(np.swapaxes(sums / counts, 0, 1))


def ilif_estimates(currents: np.ndarray, offset: np.ndarray, timesteps: int) -> np.ndarray:
    """(T, B, ...) per-bit readout currents X_t and the offset c → (B, T, ...) estimates E_t."""
    weights = (2.0 ** -np.arange(1, timesteps + 1)).astype(np.float32).reshape((-1,) + (1,) * (currents.ndim - 1))
    partial = np.cumsum(currents * weights, axis=0, dtype=np.float32) + np.float32(2.0**-timesteps) * offset
    return np.ascontiguousarray(np.swapaxes(partial, 0, 1))


def confidence(estimates: np.ndarray, metric: str) -> np.ndarray:
    """(..., T, K) estimates after each of T steps → (..., T) confidence in [0, 1], float32
    (max-softmax and entropy take any (..., K))."""
    if metric == "sum-softmax":
        steps = np.arange(1, estimates.shape[-2] + 1, dtype=np.float32).reshape(-1, 1)
        return sum_confidence(estimates.astype(np.float32) * steps)
    z = estimates.astype(np.float32) - estimates.max(axis=-1, keepdims=True).astype(np.float32)
    e = np.exp(z)
    total = e.sum(axis=-1, dtype=np.float32)
    if metric == "max-softmax":
        return (np.float32(1.0) / total).astype(np.float32)
    classes = estimates.shape[-1]
    entropy = np.log(total) - (e * z).sum(axis=-1, dtype=np.float32) / total
    return (np.float32(1.0) - entropy / np.float32(math.log(classes))).astype(np.float32)


def sum_confidence(sums: np.ndarray) -> np.ndarray:
    """(..., K) running sums → 1 − 1/(1 + ln(1 + 1/r)), r = Σ_{j ≠ top} exp(S_j − S_top) summed
    in class order (as the native code does); top: the first largest."""
    top = sums.argmax(axis=-1)[..., None]
    e = np.exp(sums - np.take_along_axis(sums, top, axis=-1))
    np.put_along_axis(e, top, np.float32(0.0), axis=-1)
    rest = e[..., 0]
    for k in range(1, sums.shape[-1]):
        rest = rest + e[..., k]
    with np.errstate(divide="ignore", over="ignore"):  # r = 0 or tiny: log-odds ∞, confidence 1
        log_odds = np.log(np.float32(1.0) + np.float32(1.0) / rest)
    return (np.float32(1.0) - np.float32(1.0) / (np.float32(1.0) + log_odds)).astype(np.float32)


def exit_steps(conf: np.ndarray, threshold: float) -> np.ndarray:
    """(B, T) confidences → (B,) index of the first step at or above the threshold (else T − 1)."""
    passed = conf >= np.float32(threshold)
    return np.where(passed.any(axis=1), passed.argmax(axis=1), conf.shape[1] - 1)


def check_class_scores(shape: tuple[int, ...], what: str = "adaptive timesteps") -> int:
    """K, the number of classes, or an error when the output is not a (N, K) score vector."""
    if len(shape) != 1 or shape[0] < 2:
        raise UsageError(
            f"{what} needs a network whose output is a vector of class scores (N, K ≥ 2); this one gives "
            f"(N, {', '.join(map(str, shape))})"
        )
    return shape[0]


def check_budget(budget: float) -> None:
    if not 0 <= budget < 100:
        raise UsageError(f"--accuracy-budget is in accuracy points, 0 <= B < 100; got {budget}")


def samples_needed(budget: float) -> int:
    """Samples for the budget to cover at least two of them: a 0.5-point budget needs 400."""
    return max(MIN_SAMPLES, math.ceil(200 / budget)) if budget > 0 else MIN_SAMPLES


def check_calibration_size(samples: int, budget: float) -> None:
    check_budget(budget)
    needed = samples_needed(budget)
    if samples < needed:
        raise DataError(
            f"calibrating exits to a {budget:g}-point budget needs at least {needed} calibration samples "
            f"(two samples' worth of budget, and never fewer than {MIN_SAMPLES}), got {samples}"
        )


@dataclass
class ExitCalibration:
    threshold: float  # confidence at which a sample exits
    fixed_accuracy: float  # of the fixed-T network on the calibration set
    accuracy: float  # with exits at the threshold
    mean_steps: float  # average steps used (of T) on the calibration set
    samples: int
    against: str  # "labels" or "fixed-T predictions" (no labels: agreement, a stricter test)


def calibrate_threshold(conf: np.ndarray, predictions: np.ndarray, labels: np.ndarray | None,
                        budget: float, fixed: np.ndarray | None = None,
                        margin: float = 0.0) -> ExitCalibration:  # fmt: skip
    """The lowest threshold whose accuracy loss against the fixed-T network stays within
    `budget` points — for it and every higher threshold (a safe envelope, not a lucky dip).
    The loss counts the samples the fixed network gets right and the exit gets wrong, with no
    credit for the reverse, so lucky corrections on the calibration set cannot pay for losses
    that would not repeat on other data; and what must stay within the budget is the loss's
    Wilson upper confidence bound at `margin` standard errors (0: the count itself), because
    the lowest threshold that fits is where the count is luckiest.

    conf, predictions: (B, T) per-step confidence and predicted class; `fixed`: the fixed-T
    network's predictions (default: the last step's), the baseline. Accuracy as a function of
    the threshold changes only at each sample's running-maximum confidences; sweeping those
    from high to low moves one sample's exit at a time, so the sweep costs O(B·T log(B·T)).
    """
    check_calibration_size(len(conf), budget)
    batch, steps = conf.shape
    against = "labels" if labels is not None else "fixed-T predictions"
    fixed = predictions[:, -1] if fixed is None else fixed
    target = labels if labels is not None else fixed
    correct = predictions == target[:, None]
    fixed_correct = fixed == target
    baseline = int(fixed_correct.sum())
    running = np.maximum.accumulate(conf, axis=1)
    record = np.ones_like(conf, dtype=bool)
    record[:, 1:] = running[:, 1:] > running[:, :-1]
    samples, times = np.nonzero(record)
    values = running[samples, times]
    order = np.lexsort((-times, -values))  # high thresholds first; within a value, the latest step first
    current = np.full(batch, steps - 1)
    lost = int((fixed_correct & ~correct[:, -1]).sum())
    chosen = np.inf  # the lowest threshold within budget so far (inf: none yet)
    violating = 0.0  # the highest threshold that loses too much (0: none does)
    i = 0
    while i < len(order):
        value = values[order[i]]
        while i < len(order) and values[order[i]] == value:  # all exits this threshold value enables
            sample, time = samples[order[i]], times[order[i]]
            if time < current[sample]:
                if fixed_correct[sample]:
                    lost += int(correct[sample, current[sample]]) - int(correct[sample, time])
                current[sample] = time
            i += 1
        if upper_bound(lost, batch, margin) > budget / 100 + 1e-12:
            violating = float(value)
            break
        chosen = float(value)
    threshold = _between(chosen, violating)
    exits = exit_steps(conf, threshold)
    accuracy = float(correct[np.arange(batch), exits].mean())
    return ExitCalibration(threshold, baseline / batch, accuracy, float((exits + 1).mean()), batch, against)


def upper_bound(count: int, samples: int, z: float) -> float:
    """Wilson's upper confidence bound, z standard errors, on a rate seen `count` times in
    `samples` (z = 0: the rate)."""
    rate = count / samples
    if z == 0:
        return rate
    spread = z * math.sqrt(rate * (1 - rate) / samples + z * z / (4 * samples * samples))
    return (rate + z * z / (2 * samples) + spread) / (1 + z * z / samples)


def _between(chosen: float, lower: float) -> float:
    """A threshold halfway between the chosen confidence and the next lower one that matters, so
    that engines whose confidences differ in the last bit take the same exits. None: never."""
    if not np.isfinite(chosen):
        return NEVER
    middle = float(np.float32((chosen + lower) / 2))
    return middle if lower < middle <= chosen else float(chosen)


def fit_step_weights(currents: np.ndarray, targets: np.ndarray, ridge: float = 1e-3) -> np.ndarray:
    """Per-step readout weights w (T,) so that Z_t = Σ_{τ≤t} w_τ·z_τ / (t + 1) matches the ANN's
    logits at every step t (least squares over samples, classes and steps, with a ridge pulling
    w toward 1). currents: (T, B, K) readout currents; targets: (B, K).

    With G_τσ = Σ z_τ·z_σ and H_τ = Σ z_τ·ℓ (sums over samples and classes), the normal
    equations are Σ_σ A_τσ·w_σ = b_τ with A_τσ = G_τσ·Σ_{t ≥ max(τ,σ)} (t+1)^−2 and
    b_τ = H_τ·Σ_{t ≥ τ} (t+1)^−1.
    """
    steps = len(currents)
    flat = currents.reshape(steps, -1).astype(np.float64)
    gram = flat @ flat.T
    cross = flat @ targets.reshape(-1).astype(np.float64)
    inverse_square = 1.0 / np.arange(1, steps + 1) ** 2
    tail_square = np.cumsum(inverse_square[::-1])[::-1]  # Σ_{t ≥ τ} (t+1)^−2
    tail = np.cumsum((1.0 / np.arange(1, steps + 1))[::-1])[::-1]
    later = np.maximum.outer(np.arange(steps), np.arange(steps))
    system = gram * tail_square[later]
    penalty = ridge * np.trace(system) / steps
    weights = np.linalg.solve(system + penalty * np.eye(steps), cross * tail + penalty)
    return np.maximum(weights, 1e-3).astype(np.float32)
