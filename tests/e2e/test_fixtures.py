"""The bundled Fashion-MNIST fixtures convert near-losslessly with iLIF at few timesteps.

Uses the small slices bundled in examples/ (512 calibration and 256 test images), so no
dataset needs to be installed; docs/benchmarks.md has the full-test-set figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import snnc
from snnc.evaluate import run_ann

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def slices():
    calib = np.load(EXAMPLES / "fmnist_calib.npz")["x"]
    test = np.load(EXAMPLES / "fmnist_test.npz")
    return calib, test["x"], test["y"]


@pytest.mark.parametrize("name", ["fmnist_vgg", "fmnist_resnet"])
def test_ilif_at_t8_agrees_with_the_ann(name, slices):
    calib, x, y = slices
    model = EXAMPLES / f"{name}.onnx"
    ann = run_ann(str(model), x)[0].argmax(axis=1)
    program = snnc.compile(model, neuron="ilif", timesteps=8, calibration=calib)
    coarse = program.run(x, timesteps=2).logits.argmax(axis=1)
    fine = program.run(x).logits.argmax(axis=1)
    assert (fine == ann).mean() >= 0.98
    assert abs((fine == y).mean() - (ann == y).mean()) <= 0.02
    assert (fine == ann).mean() > (coarse == ann).mean()  # more bits, closer to the ANN


SUITE = sorted((EXAMPLES / "suite").glob("fmnist_*.onnx"))  # examples/train_suite.py


@pytest.mark.parametrize("model", SUITE, ids=[m.stem for m in SUITE])
def test_the_held_out_suite_imports_as_onnxruntime_runs_it(model, slices):
    _, x, _ = slices
    (logits,) = snnc.execute(snnc.import_onnx(model), x[:32])
    np.testing.assert_allclose(logits, run_ann(str(model), x[:32])[0], rtol=1e-4, atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fmnist_mobilenet", "fmnist_densenet"])
def test_rate_coding_defaults_hold_on_the_hardest_held_out_networks(name, slices):
    """IF at T = 32 with its defaults (error thresholds per channel, bias correction): the
    MobileNet-style network lost 13.6 points on held-out images with the settings before."""
    calib, x, y = slices
    model = EXAMPLES / "suite" / f"{name}.onnx"
    ann = run_ann(str(model), x)[0].argmax(axis=1)
    snn = snnc.compile(model, neuron="if", timesteps=32, calibration=calib).run(x).logits.argmax(axis=1)
    assert (snn == ann).mean() >= 0.93 and abs((snn == y).mean() - (ann == y).mean()) <= 0.03
