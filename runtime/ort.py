"""The ANN view of an IR graph on onnxruntime, streamed in batches: what calibration runs.

runtime/ann.py defines what every op computes and stays the oracle (tests/unit/test_ort.py
compares the two); this runs the same graph exported to ONNX (snnc/frontend/export.py) at a
tuned engine's speed, handing back only the values asked for, a batch at a time, so that memory
stays bounded whatever the number of samples.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from snnc.runtime.ann import execute

from snnc.frontend.export import to_onnx
from snnc.ir.graph import Graph


class OrtGraph:
    """A graph's ANN view in an onnxruntime session whose outputs are `names`."""

    def __init__(self, graph: Graph, names: list[str]) -> None:
        import onnxruntime as ort  # deferred: loading it costs start-up time

        self.names = list(names)
        options = ort.SessionOptions()
        options.log_severity_level = 3  # onnxruntime's warnings are about its own graph rewrites
        model = to_onnx(graph, self.names).SerializeToString()
        self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        self.input = graph.inputs[0]

    def run(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        values = self.session.run(self.names, {self.input: np.ascontiguousarray(batch, dtype=np.float32)})
        return dict(zip(self.names, values))


def stream_values(graph: Graph, data: np.ndarray, names: list[str], batch: int,
                  engine: str = "onnxruntime") -> Iterator[tuple[int, dict[str, np.ndarray]]]:  # fmt: skip
    """(start, {name: value}) for consecutive batches of `data`. `engine` "onnxruntime" runs the
    exported graph, falling back to the reference where it cannot (an op without an ONNX form,
    a model past protobuf's 2 GiB, a session onnxruntime refuses); "reference" runs runtime/ann.py."""
    session = None
    if engine == "onnxruntime" and len(graph.inputs) == 1:
        try:
            session = OrtGraph(graph, names)
        except Exception:  # noqa: BLE001  (onnxruntime's own errors derive from Exception alone)
            session = None  # the reference computes the same values
    for start in range(0, len(data), batch):
        chunk = data[start : start + batch]
        if session is not None:
            yield start, session.run(chunk)
        else:
            yield start, execute(graph, chunk, keep=names)


def map_batches(graph: Graph, data: np.ndarray, names: list[str], batch: int, engine: str,
                function) -> Iterator[tuple[int, object]]:  # fmt: skip
    """(start, function(start, values)) per batch: what calibration keeps of each batch, so that
    a cluster can compute it where the batch runs (snnc/runners.ClusterRunner.map_batches)."""
    for start, values in stream_values(graph, data, names, batch, engine):
        yield start, function(start, values)
