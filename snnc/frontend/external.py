"""Weights kept outside the model file (ONNX external data), read safely.

A tensor with `data_location = EXTERNAL` names a `location` (a path), an `offset` and a
`length`. A model may come from anyone, so the location must be a relative path to a regular
file inside the model's own folder (after resolving links), and the range must lie within that
file; anything else is a FileError (exit 3) naming the tensor, before anything is read.
"""

from __future__ import annotations

from pathlib import Path

import onnx

from snnc.errors import FileError
from snnc.files import check_regular_file
from snnc.resources import require_memory


def load_external_data(model: onnx.ModelProto, folder: Path, source: str) -> None:
    """Read every external tensor of the model into its raw data."""
    base = Path(folder).resolve()
    for tensor in _tensors(model.graph):
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            tensor.raw_data = _read(tensor, base, source)
            tensor.data_location = onnx.TensorProto.DEFAULT
            del tensor.external_data[:]


def _tensors(graph: onnx.GraphProto):
    """Initializers and constant attributes, subgraphs included."""
    yield from graph.initializer
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("g"):
                yield from _tensors(attribute.g)
            for subgraph in attribute.graphs:
                yield from _tensors(subgraph)


def _read(tensor: onnx.TensorProto, base: Path, source: str) -> bytes:
    info = {entry.key: entry.value for entry in tensor.external_data}
    where = f"{source}: tensor '{tensor.name}' keeps its data in {info.get('location')!r}"
    try:
        offset = int(info.get("offset", 0))
        length = int(info["length"]) if "length" in info else None
    except ValueError:
        raise FileError(f"{where} with an offset or length that is not a number") from None
    location = Path(info.get("location", ""))
    if not str(location) or location.is_absolute() or ".." in location.parts:
        raise FileError(f"{where}: external data must be a file in the model's folder")
    path = (base / location).resolve()
    if base not in path.parents:
        raise FileError(f"{where}, which leads outside the model's folder")
    try:
        check_regular_file(path, "a file of weights")
    except FileError as exc:
        raise FileError(f"{where}: {exc}") from None
    size = path.stat().st_size
    length = size - offset if length is None else length
    if offset < 0 or length < 0 or offset + length > size:
        raise FileError(f"{where} at bytes {offset}..{offset + length}, beyond the file's {size} bytes")
    require_memory(length, f"tensor '{tensor.name}'")
    with open(path, "rb") as handle:
        handle.seek(offset)
        return handle.read(length)
