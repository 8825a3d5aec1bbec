"""Build small ONNX models and compare snnc's reference executor with onnxruntime."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

import snnc


def make_model(
    nodes: list[onnx.NodeProto],
    input_shape: tuple,
    output_name: str = "y",
    initializers: dict[str, np.ndarray] | None = None,
    opset: int = 17,
    input_name: str = "x",
    batch: int | str = "N",
    output_shape: tuple | None = None,
) -> onnx.ModelProto:
    """A model with one float input (dim 0 symbolic by default) and one output."""
    inputs = [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [batch, *input_shape[1:]])]
    outputs = [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, None)]
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in (initializers or {}).items()]
    graph = helper.make_graph(nodes, "test", inputs, outputs, inits)
    ir_version = 3 if opset < 8 else (7 if opset < 13 else 8)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=ir_version)
    if ir_version < 4:  # old IR lists initializers among the inputs
        for name, value in (initializers or {}).items():
            dtype = helper.np_dtype_to_tensor_dtype(np.asarray(value).dtype)
            model.graph.input.append(helper.make_tensor_value_info(name, dtype, np.shape(value)))
    if output_shape is None:
        _type_outputs(model, input_shape, batch)  # the checker wants typed outputs
    else:
        model.graph.output[0].CopyFrom(helper.make_tensor_value_info(output_name, TensorProto.FLOAT, output_shape))
    onnx.checker.check_model(model)
    return model


def _type_outputs(model: onnx.ModelProto, input_shape: tuple, batch) -> None:
    """Give each output the shape onnxruntime computes (dim 0 as the input's)."""
    x = np.zeros((batch if isinstance(batch, int) else 1, *input_shape[1:]), dtype=np.float32)
    results = run_ort(model, x)
    for value, result in zip(model.graph.output, results):
        dims = [batch, *result.shape[1:]] if result.ndim else []
        value.CopyFrom(helper.make_tensor_value_info(value.name, TensorProto.FLOAT, dims))


def run_ort(model: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})


def assert_matches_ort(model: onnx.ModelProto, x: np.ndarray, rtol: float = 1e-4, atol: float = 1e-5) -> snnc.ir.Graph:
    """Import with snnc, run both, compare every output; returns the IR graph."""
    graph = snnc.import_onnx(model)
    graph.verify()
    ours = snnc.execute(graph, x)
    theirs = run_ort(model, x)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert a.shape == b.shape, (a.shape, b.shape)
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
    return graph


def random_input(shape, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def weights(shape, seed: int = 1) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * 0.5).astype(np.float32)
