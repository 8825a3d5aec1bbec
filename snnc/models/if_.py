"""IF: the integrate-and-fire neuron of rate-coded conversion."""

from __future__ import annotations

import numpy as np

from snnc.models.base import RATE, NeuronModel, channel_shape


class IntegrateAndFire(NeuronModel):
    """Each step:  V += I_t;  s = [V ≥ θ];  V −= s·θ (reset "subtract") or V = 0 (reset "zero");
    the output is s·θ. V starts at v_init·θ. The rate of s approximates clip(a/θ, 0, 1) with an
    error that shrinks as 1/T.

    Defaults: thresholds per channel, each the θ of least expected error at the target T
    (passes/balance_thresholds.py), then each layer's bias corrected by its mean error on the
    calibration data (passes/correct_bias.py): chosen on held-out training images of six
    architectures the defaults had not seen (docs/benchmarks.md, "Rate coding on held-out
    architectures": 78.5 → 91.1 % on the MobileNet-style one at T = 32, whose ANN has 92.1).
    v_init = 0.5 (half a step turns flooring into rounding), chosen on the fixtures. The
    percentile (for --thresholds percentile) stays 99.9.
    """

    name = "if"
    coding = RATE
    percentile = 99.9
    thresholds = "error"
    per_channel = True
    bias_correction = True
    v_init = 0.5

    def simulate(self, op, value, theta, timesteps, dtype):
        v = np.broadcast_to(dtype(op.v_init) * theta, value.shape[1:]).astype(dtype)
        out = np.empty_like(value, dtype=dtype)
        for step in range(timesteps):
            v += value[step]
            fired = v >= theta
            if op.reset == "subtract":
                v -= fired * theta
            else:
                v[fired] = 0
            out[step] = fired * theta
        return out, None

    def fire_fixed(self, layer, value, timesteps):
        channel = channel_shape(layer.pre_shape)
        out = run_integer(value, layer.v0.reshape(channel), layer.threshold.reshape(channel), layer.reset)
        return out, out


def run_integer(currents: np.ndarray, v0: np.ndarray, theta: np.ndarray, reset: str) -> np.ndarray:
    """IF in integers over (T, B, ...) currents: the spikes, 0 or 1, as uint8."""
    v = np.broadcast_to(v0, currents.shape[1:]).copy()
    out = np.empty(currents.shape, dtype=np.uint8)
    for step, current in enumerate(currents):
        v += current
        fired = v >= theta
        v = v - fired * theta if reset == "subtract" else np.where(fired, 0, v)
        out[step] = fired
    return out
