"""Kernels of the same kind, sizes and options share one generated function (codegen.body_key):
fewer functions for LLVM, the same results as a function per kernel."""

from __future__ import annotations

import numpy as np
from snnc.targets.cpu import codegen
from snnc.targets.cpu.runner import CompiledNetwork

import snnc
from snnc.zoo import build


def test_repeated_blocks_share_functions_and_compute_the_same(monkeypatch):
    rng = np.random.default_rng(4)
    calibration, x = rng.random((16, 3, 32, 32), np.float32), rng.random((6, 3, 32, 32), np.float32)
    program = snnc.compile(build("cifar-resnet20", seed=1), "cpu", 6, calibration=calibration)
    shared = CompiledNetwork(program.graph, cache=None)
    functions = shared.ir.count("define internal")
    assert functions < len(shared.plan.kernels) // 2  # ResNet-20 repeats each stage's block three times
    expected = shared.run(x, 6, program.latency_steps, record=shared.layers)

    keys = iter(range(10**6))
    monkeypatch.setattr(codegen, "body_key", lambda kernel, args: str(next(keys)))  # a function per kernel
    separate = CompiledNetwork(program.graph, cache=None)
    assert separate.ir.count("define internal") == len(separate.plan.kernels)
    actual = separate.run(x, 6, program.latency_steps, record=shared.layers)
    np.testing.assert_array_equal(expected.logits, actual.logits)
    assert expected.spikes == actual.spikes and expected.sops == actual.sops
    for name, trains in expected.records.items():
        np.testing.assert_array_equal(trains, actual.records[name])
