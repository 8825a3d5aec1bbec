"""correct-bias's weight refit (`weight_correction`): each layer fed by a spiking layer gets the
weights that, in least squares, map what the SNN sends to the ANN's output (SNN Calibration's
advanced calibration)."""

from __future__ import annotations

import numpy as np
import pytest
from snnc.passes.correct_bias import CorrectBias
from snnc.passes.refit_weights import _Normal
from snnc.runtime import execute
from snnc.runtime.snn import simulate

from snnc.ir import Conv, Gemm
from tests.passes.test_correct_bias import STEPS, calibrated

RNG = np.random.default_rng(31)


def explicit_rows(op: Conv, x: np.ndarray) -> np.ndarray:
    """(N, P, G, K): every output position's window per group, by loops over the definition."""
    n, channels, height, width = x.shape
    per_group, (kh, kw) = channels // op.groups, op.kernel
    padded = np.pad(x, ((0, 0), (0, 0), (op.pads[0], op.pads[2]), (op.pads[1], op.pads[3])))
    out_h = (height + op.pads[0] + op.pads[2] - kh) // op.strides[0] + 1
    out_w = (width + op.pads[1] + op.pads[3] - kw) // op.strides[1] + 1
    rows = np.zeros((n, out_h * out_w, op.groups, per_group * kh * kw))
    (sh, sw) = op.strides
    for i in range(out_h):
        for j in range(out_w):
            window = padded[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw]
            rows[:, i * out_w + j] = window.reshape(n, op.groups, -1)
    return rows


def ridge_lstsq(inputs: np.ndarray, outputs: np.ndarray, prior: np.ndarray, ridge: float) -> np.ndarray:
    """argmin ‖[x, 1]·v − y‖² + λ‖v[:K] − prior‖², as an augmented ordinary least squares."""
    size = inputs.shape[1]
    scale = ridge * (inputs**2).sum() / size
    design = np.vstack([np.hstack([inputs, np.ones((len(inputs), 1))]),
                        np.hstack([np.sqrt(scale) * np.eye(size), np.zeros((size, 1))])])  # fmt: skip
    target = np.vstack([outputs, np.sqrt(scale) * prior.T])
    return np.linalg.lstsq(design, target, rcond=None)[0]  # (K + 1, O)


def test_a_grouped_strided_convolution_solves_the_ridge_least_squares():
    op = Conv(RNG.standard_normal((6, 2, 3, 3)), RNG.standard_normal(6), strides=(2, 2), pads=(1, 0, 1, 2), groups=2)
    rates = RNG.uniform(0, 1, (5, 4, 7, 6))
    target = execute_conv(op, rates) + RNG.normal(0, 0.3, (5, 6, 4, 3))
    system = _Normal(op)
    system.add(rates[:2], target[:2])  # in two chunks, as the pass adds them
    system.add(rates[2:], target[2:])
    weight, bias = system.solve(0.05)
    rows = explicit_rows(op, rates)  # (N, P, G, K)
    for group in range(2):
        inputs = rows[:, :, group].reshape(-1, rows.shape[3])
        outputs = target[:, 3 * group : 3 * group + 3].reshape(5, 3, -1).transpose(0, 2, 1).reshape(-1, 3)
        prior = op.weight[3 * group : 3 * group + 3].reshape(3, -1)
        expected = ridge_lstsq(inputs, outputs, prior, 0.05)
        np.testing.assert_allclose(weight[3 * group : 3 * group + 3].reshape(3, -1), expected[:-1].T, rtol=1e-4,
                                   atol=1e-5)  # fmt: skip
        np.testing.assert_allclose(bias[3 * group : 3 * group + 3], expected[-1], rtol=1e-4, atol=1e-5)


def execute_conv(op: Conv, x: np.ndarray) -> np.ndarray:
    from snnc.runtime.ann import conv

    return conv(op, x.astype(np.float32)).astype(np.float64)


def test_a_dense_layer_solves_the_ridge_least_squares():
    op = Gemm(RNG.standard_normal((3, 8)), RNG.standard_normal(3))
    rates, target = RNG.uniform(0, 1, (90, 2, 2, 2)), RNG.standard_normal((90, 3))
    system = _Normal(op)
    system.add(rates, target)
    weight, bias = system.solve(0.1)
    expected = ridge_lstsq(rates.reshape(90, -1), target, op.weight, 0.1)
    np.testing.assert_allclose(weight, expected[:-1].T, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bias, expected[-1], rtol=1e-4, atol=1e-5)


def test_only_layers_fed_by_spikes_with_enough_equations_change():
    """n0 reads the input (exact); n2 is fed by spikes over 36 positions of 48 images; the readout
    n5 has 181 unknowns and 48 equations."""
    before, after, _, notes = calibrated(enabled=False, weights=True)
    np.testing.assert_array_equal(after.op("n0").weight, before.op("n0").weight)
    np.testing.assert_array_equal(after.op("n5").weight, before.op("n5").weight)
    assert not np.allclose(after.op("n2").weight, before.op("n2").weight)
    assert (
        notes[0] == "weights: 1 layers refitted by least squares on 48 images, one after another; 1 with too few "
        "equations left alone"
    )


def test_the_refit_brings_each_images_currents_closer_to_the_anns():
    """The objective itself, per image and position: what n2 computes from the spikes n1 sends
    (unchanged: n0 is not refitted) against what it computes from the ANN's activations."""
    before, after, x, _ = calibrated(enabled=False, weights=True)
    ann = execute(before, x, keep=["n2"])["n2"]
    sent = simulate(before, x, STEPS, record=["n1"], record_values=True).records["n1"].mean(axis=1)
    errors = [np.mean((execute_conv(g.op("n2"), sent) - ann) ** 2) for g in (before, after)]
    assert errors[1] < 0.95 * errors[0], errors  # quantization noise is most of it: no linear map removes that


@pytest.mark.parametrize("options", [dict(ridge=0.0), dict(ridge=-1.0)])
def test_refit_options_out_of_range_are_conversion_errors(options):
    from snnc.errors import ConversionError

    with pytest.raises(ConversionError, match="correct-bias needs"):
        CorrectBias(**options)
