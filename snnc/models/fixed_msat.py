"""MSAT in integers: the accelerator's threshold unit (docs/accel.md, "MSAT").

Fixed point Q8 (256 = 1.0). Divisions become multiplications by reciprocals the unit keeps
(1/Θ per channel, 1/t per step, both rounded to 2^−24 and 2^−16), and ln(1 + eʸ), eʸ and the
sigmoid are 256-entry tables over [−8, 8) in steps of 1/16, read at the nearest entry, the input clamped to that range
(softplus is the identity above 8). Per neuron, with Θ the layer's θ_max, L the membrane after
the previous step's reset, Σ the sum of those membranes and I_t the step's input current:

    θ_0 = Θ
    m = (Σ·⌊2^16/t⌉) >> 16;   d = ((L − m)·R) >> 16;   R = ⌊2^24/Θ⌉          (d = Δ/Θ in Q8)
    DTT = τ_mp·(α·d − 256 + k_a·SP(d/k_i));   DET = τ_rd·EXP(−(I_t·R >> 16)/C)   (Q8 products >> 8)
    g = SIG(DTT + DET) (g_0 = 256);   θ_t = max(1, (Θ·g) >> 8)
    s = [V ≥ θ_t] (γ = 1) or clamp(⌊V/θ_t⌋, 0, γ);   V −= s·θ_t;   payload s·g

A spike's packet carries s·g, the charge in units of Θ/256 (9 bits for γ = 1), rather than s·θ_t
in the membrane's units: the receiving layer folds θ_max/256 into its weights.

The spike confidence drop mask is the float network's: a seeded function of (seed, step, neuron).
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np

ONE = 256  # Q8
LUT_SHIFT = 4  # table index = u >> 4: steps of 1/16
LUT_LOW, LUT_HIGH = -128, 127  # [−8, 8)


@cache
def table(name: str) -> np.ndarray:
    functions = {
        "softplus": lambda y: math.log1p(math.exp(y)),
        "exp": math.exp,
        "sigmoid": lambda y: 1.0 / (1.0 + math.exp(-y)),
    }
    f = functions[name]
    return np.array([round(ONE * f(i / 16)) for i in range(LUT_LOW, LUT_HIGH + 1)], dtype=np.int64)


def lookup(name: str, u: np.ndarray) -> np.ndarray:
    index = np.clip((u + (1 << (LUT_SHIFT - 1))) >> LUT_SHIFT, LUT_LOW, LUT_HIGH) - LUT_LOW  # nearest entry
    return table(name)[index]


def softplus(u: np.ndarray) -> np.ndarray:
    return np.where(u >= 8 * ONE, u, lookup("softplus", u))


def reciprocal(value: np.ndarray, bits: int) -> np.ndarray:
    """⌊2^bits / value⌉ for positive integers."""
    value = np.asarray(value, dtype=np.int64)
    return ((1 << bits) + value // 2) // value


def q8_params(alpha, k_a, k_i, c_det, tau_mp, tau_rd, burst, use_dtt, use_det, confidence=1.0,
              confidence_steps=16, seed=0) -> dict:  # fmt: skip
    """The layer's MSAT constants as the unit stores them (Q8 integers)."""
    return {
        "alpha": round(ONE * alpha), "k_a": round(ONE * k_a), "inv_k_i": round(ONE / k_i),
        "inv_c": round(ONE / c_det), "tau_mp": round(ONE * tau_mp), "tau_rd": round(ONE * tau_rd),
        "burst": int(burst), "use_dtt": bool(use_dtt), "use_det": bool(use_det),
        "confidence": float(confidence), "confidence_steps": int(confidence_steps), "seed": int(seed),
    }  # fmt: skip


def adapted_threshold(p: dict, theta, last, total, current, step: int) -> tuple[np.ndarray, np.ndarray]:
    """(θ_t, g) with g = SIG(DTT + DET) ∈ [0, 256] the adapted fraction of Θ (integers, the shape
    of `last`); theta is per channel, broadcastable."""
    if step == 0:
        return np.broadcast_to(theta, np.shape(last)).astype(np.int64), np.full(np.shape(last), ONE, np.int64)
    r = reciprocal(theta, 24)
    mean = (total * int(reciprocal(step, 16))) >> 16
    d = ((last - mean) * r) >> 16
    z = np.zeros(np.shape(last), dtype=np.int64)
    if p["use_dtt"]:
        sp = softplus((d * p["inv_k_i"]) >> 8)
        z = z + ((p["tau_mp"] * (((p["alpha"] * d) >> 8) - ONE + ((p["k_a"] * sp) >> 8))) >> 8)
    if p["use_det"]:
        x = (current * r) >> 16
        z = z + ((p["tau_rd"] * lookup("exp", -((x * p["inv_c"]) >> 8))) >> 8)
    fraction = lookup("sigmoid", z)
    return np.maximum(1, (theta * fraction) >> 8), fraction


def fire(v: np.ndarray, theta_t: np.ndarray, burst: int) -> np.ndarray:
    """Spike counts s = clamp(⌊V/θ_t⌋, 0, γ)."""
    if burst == 1:
        return (v >= theta_t).astype(np.int64)
    return np.clip(v // theta_t, 0, burst)


def drop_mask(p: dict, sample_shape: tuple) -> np.ndarray | None:
    """(confidence_steps, *sample_shape) 0/1: the spikes kept in the first steps (None: all)."""
    if p["confidence"] >= 1:
        return None
    draws = np.random.default_rng(p["seed"]).random((p["confidence_steps"], *sample_shape), dtype=np.float32)
    return (draws < np.float32(p["confidence"])).astype(np.int64)


def run(p: dict, currents: np.ndarray, v0: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A whole layer over T steps: (payloads s·g, spike counts s), both (T, B, ...)."""
    v = np.broadcast_to(v0, currents.shape[1:]).astype(np.int64)
    last, total = np.zeros_like(v), np.zeros_like(v)
    mask = drop_mask(p, currents.shape[2:])
    payloads, counts = np.empty_like(currents), np.empty_like(currents)
    for step, current in enumerate(currents):
        v = v + current
        theta_t, fraction = adapted_threshold(p, theta, last, total, current, step)
        s = fire(v, theta_t, p["burst"])
        v = v - s * theta_t
        if mask is not None and step < p["confidence_steps"]:
            s = s * mask[step]  # dropped: the charge is spent, the spike not sent
        payloads[step], counts[step] = s * fraction, s
        last, total = v, total + v
    return payloads, counts
