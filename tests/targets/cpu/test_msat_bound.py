"""msat.may_fire, the cheap test that picks the MSAT neurons whose θ_t the cpu kernel computes,
is sound: a neuron at its threshold θ_t (the reference's float32 formula) always passes it, for
Δ and I across nine orders of magnitude of either sign, each sign of the hyperparameters and
both units. And it is worth having: most neurons well below θ_t fail it."""

from __future__ import annotations

import ctypes
import math

import numpy as np
import pytest
from llvmlite import ir
from snnc.targets.cpu import msat
from snnc.targets.cpu.irbuild import F32, I8, I64, Function, i64, load_typed, store_typed
from snnc.targets.cpu.llvm import NativeLibrary, compile_ir, module_header

from snnc.ir.ops_snn import MSAT_DYNAMICS, MsatNeuron
from snnc.models import msat as msat_model

RNG = np.random.default_rng(5)
LANES = 8
INPUTS = ("v", "delta", "current", "theta")


def may_fire_program(op: MsatNeuron):
    """out[i] = may_fire(v[i], delta[i], current[i], theta[i]), eight lanes at a time."""
    module = ir.Module("may_fire")
    module.triple, module.data_layout = module_header()
    args = [(name, F32.as_pointer()) for name in INPUTS] + [("out", I8.as_pointer()), ("n", I64)]
    f = Function(module, "may_fire", args, internal=False)
    b, a = f.b, f.args
    k = {key: getattr(op, key) for key in MSAT_DYNAMICS}
    vector = ir.VectorType(F32, LANES)
    with f.loop(b.udiv(a["n"], i64(LANES))) as block:
        first = b.mul(block, i64(LANES))
        passed = msat.may_fire(f, k, *(load_typed(f, a[name], first, vector) for name in INPUTS))
        store_typed(f, b.zext(passed, ir.VectorType(I8, LANES)), a["out"], first)
    f.finish()
    library = NativeLibrary(compile_ir(str(module)))
    function = library.function("may_fire", None, *[ctypes.c_void_p] * 5, ctypes.c_int64)

    def may_fire(v, delta, current, theta) -> np.ndarray:
        padded = -(-len(v) // LANES) * LANES  # whole vectors; the padding (θ = 1) is cut off
        columns = [np.pad(np.asarray(x, np.float32), (0, padded - len(v)), constant_values=1.0)
                   for x in (v, delta, current, theta)]  # fmt: skip
        out = np.zeros(padded, np.uint8)
        function(*(x.ctypes.data for x in columns), out.ctypes.data, padded)
        return out[: len(v)].astype(bool)

    may_fire.library = library  # kept alive with the function
    return may_fire


def signed_magnitudes(count: int, low: float, high: float) -> np.ndarray:
    return RNG.choice([-1.0, 1.0], count) * 10.0 ** RNG.uniform(low, high, count)


HYPER = [
    {},  # the VGG defaults
    {"alpha": 0.3, "tau_mp": 0.2, "tau_rd": 0.1},  # the ResNet ones
    {"units": "absolute"},
    {"alpha": 0.5, "tau_mp": 3.0, "tau_rd": 2.0, "k_i": 0.1, "c_det": 0.2},  # trusted at the edge: no range guard
    {"alpha": -1.0},  # α·Δ and softplus cancel for large Δ: the range guard
    {"alpha": -0.5, "k_a": -1.0},  # τ_mp·k_a < 0: softplus bounded from above
    {"tau_mp": -0.5},
    {"tau_rd": 40.0, "c_det": 0.5},
    {"tau_rd": 1.0 - math.log(2.0)},  # z = 0 at Δ = I = 0, where all three bounds are tight
    {"tau_rd": -1.0},  # no bound: V + I ≥ 0
    {"use_dtt": False},
    {"use_det": False},
    {"tau_mp": 300.0},  # terms beyond the range for any Δ: V + I ≥ 0
]


@pytest.mark.parametrize("hyper", HYPER)
def test_neurons_at_their_threshold_pass(hyper):
    op = MsatNeuron(threshold=1.0, **hyper)
    may_fire = may_fire_program(op)
    n = 64 * 1024
    theta = (10.0 ** RNG.uniform(-1, 1, n)).astype(np.float32)
    delta = (signed_magnitudes(n, -3, 6) * theta).astype(np.float32)
    current = (signed_magnitudes(n, -3, 6) * theta).astype(np.float32)
    delta[:1024], current[:1024] = 0.0, RNG.uniform(-1e-6, 1e-6, 1024) * theta[:1024]  # where the bound is tightest
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        threshold = msat_model.threshold(op, theta, delta, np.float32(0.0), current)
    fires = np.isfinite(threshold)
    at_threshold = threshold[fires]
    inputs = (delta[fires], current[fires], theta[fires])
    assert may_fire(at_threshold, *inputs).all()
    assert may_fire(np.nextafter(at_threshold, np.float32(np.inf)), *inputs).all()
    assert may_fire(np.full(4 * LANES, np.nan, np.float32), *(x[: 4 * LANES] for x in inputs)).all()


@pytest.mark.parametrize("hyper", HYPER[:3])
def test_most_neurons_well_below_their_threshold_fail(hyper):
    """Δ and I of the size a layer sees (within a few θ): at half θ_t, most are ruled out
    (V + I ≥ 0 would rule out none)."""
    op = MsatNeuron(threshold=1.0, **hyper)
    may_fire = may_fire_program(op)
    n = 8 * 1024
    theta = (10.0 ** RNG.uniform(-1, 1, n)).astype(np.float32)
    delta, current = (RNG.uniform(-3, 3, (2, n)) * theta).astype(np.float32)
    threshold = msat_model.threshold(op, theta, delta, np.float32(0.0), current)
    assert may_fire(threshold * np.float32(0.5), delta, current, theta).mean() < 0.3
