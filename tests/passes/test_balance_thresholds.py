"""balance-thresholds: thresholds from calibration data or from weight bounds."""

from __future__ import annotations

import numpy as np
import pytest
from snnc.passes.balance_thresholds import BalanceThresholds, model_based_thresholds
from snnc.passes.substitute_neurons import SubstituteNeurons
from snnc.runtime import execute

from snnc.ir import (
    Relu,
)
from tests.passes.helpers import RNG, chain, conv, run_pass


def neurons_graph():
    g = chain(conv(2, 3), Relu(), conv(3, 4), Relu())
    run_pass(g, SubstituteNeurons(model="if"))
    return g


def test_data_based_thresholds_are_the_activation_maxima():
    g = neurons_graph()
    x = RNG.uniform(0, 1, (64, 2, 6, 6)).astype(np.float32)
    values = execute(g, x, keep=True)
    run_pass(g, BalanceThresholds(percentile=100.0), calibration=x)
    assert float(g.op("n1").threshold) == pytest.approx(values["n1"].max())
    assert float(g.op("n3").threshold) == pytest.approx(values["n3"].max())


def test_per_channel_percentile_thresholds():
    g = neurons_graph()
    x = RNG.uniform(0, 1, (64, 2, 6, 6)).astype(np.float32)
    values = execute(g, x, keep=True)["n3"]
    run_pass(g, BalanceThresholds(percentile=99.0, per_channel=True), calibration=x)
    theta = g.op("n3").threshold
    assert theta.shape == (4, 1, 1)
    for c in range(4):
        positive = values[:, c][values[:, c] > 0]
        assert theta[c, 0, 0] == pytest.approx(np.percentile(positive, 99.0), rel=1e-3)


def test_model_based_thresholds_bound_the_activations():
    g = neurons_graph()
    with pytest.warns(UserWarning, match="no calibration data"):
        run_pass(g, BalanceThresholds())
    x = RNG.uniform(-1, 1, (64, 2, 6, 6)).astype(np.float32)
    values = execute(g, x, keep=True)
    bounds = model_based_thresholds(g)
    for name in ("n1", "n3"):
        assert values[name].max() <= bounds[name]
