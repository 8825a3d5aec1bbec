"""The well-formed inputs the fuzzer mutates: a small ONNX model, data files, `.snnc` artifacts
(cpu and accel), a `.snnx` program, a chip configuration and a warm object cache.

They are built by running snnc itself, in a child process (`build_seeds`), so that the process
which forks the fuzz cases never starts a thread pool of its own.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

EXAMPLES = Path(__file__).parents[2] / "examples"
INPUT_SHAPE = (3, 8, 8)
CHIP_TOML = """[chip]
cores_x = 4
cores_y = 4
lanes = 8
weight_sram_kib = 16
state_sram_kib = 32

[energy]
pj_hop = 1.5
sram_pj_per_64b = { "8" = 10.0, "32" = 20.0, "1024" = 100.0 }
"""


def tiny_model():
    """x (N×3×8×8) → conv 3×3 → relu → max-pool 2×2 → conv 3×3 → relu → flatten → gemm (5 classes)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)

    def init(name, shape, scale=0.5):
        return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], kernel_shape=[3, 3], name="conv1"),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2], name="pool1"),
        helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], kernel_shape=[3, 3], name="conv2"),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("Flatten", ["r2"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], transB=1, name="fc"),
    ]
    inits = [init("w1", (4, 3, 3, 3)), init("b1", (4,), 0.1), init("w2", (4, 4, 3, 3)), init("b2", (4,), 0.1),
             init("fw", (5, 64), 0.3), init("fb", (5,), 0.1)]  # fmt: skip
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *INPUT_SHAPE])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    return model


def build_seeds(folder: Path) -> dict:
    """Write every seed into `folder` (run in a child process: it compiles); returns their index."""
    import onnx

    from snnc.cli import main

    folder.mkdir(parents=True, exist_ok=True)
    os.environ["SNNC_CACHE_DIR"] = str(folder / "cache")
    onnx.save(tiny_model(), folder / "model.onnx")
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (40, *INPUT_SHAPE)).astype(np.float32)
    y = rng.integers(0, 5, 40)
    np.savez(folder / "calib.npz", x=x[:32], y=y[:32])
    np.savez(folder / "test.npz", x=x[32:], y=y[32:])
    (folder / "chip.toml").write_text(CHIP_TOML)
    model, calib = str(folder / "model.onnx"), str(folder / "calib.npz")
    compiles = {
        "if.snnc": ["--neuron", "if", "-T", "8"],
        "ilif.snnc": ["--neuron", "ilif", "-T", "4"],
        "accel.snnc": ["-t", "accel", "--neuron", "if", "-T", "4", "--config", str(folder / "chip.toml")],
        "accel_ilif.snnc": ["-t", "accel", "--neuron", "ilif", "-T", "4"],
    }
    for name, options in compiles.items():
        code = main([model, "--calib", calib, "-o", str(folder / name), "-q", *options])
        assert code == 0, f"seed {name}: exit {code}"
    baseline = {}
    for name in ("if.snnc", "ilif.snnc"):
        out = folder / f"{name}.npz"
        assert main(["run", str(folder / name), "--input", str(folder / "test.npz"), "-q", "--output", str(out)]) == 0
        baseline[name] = np.load(out)["logits"].tolist()
    index = {
        "onnx": ["model.onnx", str(EXAMPLES / "fmnist_resnet.onnx")],
        "data": ["calib.npz", "test.npz"],
        "artifact": list(compiles),
        "program": ["accel.snnx", "accel_ilif.snnx"],
        "config": ["chip.toml"],
        "baseline": baseline,
    }
    (folder / "seeds.json").write_text(json.dumps(index))
    return index
