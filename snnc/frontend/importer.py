"""ONNX → IR: load and check the model, fold constant subgraphs, run the converters."""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import helper
from onnx.reference import ReferenceEvaluator

from snnc.errors import DataError, FileError, InvalidModelError, SnncError, UnsupportedError
from snnc.files import read_file
from snnc.frontend import converters  # noqa: F401  (registers every converter)
from snnc.frontend.context import ImportContext, tensor_value
from snnc.frontend.external import load_external_data
from snnc.frontend.registry import DEFAULT_DOMAINS, find_converter
from snnc.ir.graph import Graph
from snnc.ir.types import BATCH, TensorType
from snnc.timing import stage

MIN_OPSET = 6
MAX_TESTED_OPSET = 25  # the ONNX backend cases and the exporters the tests run
MODEL_LIMIT = 2 << 30  # protobuf's own limit for one message
FOLD_LIMIT = 1 << 28  # elements a folded constant may have (1 GiB of float32)
# Ops whose outputs are data-dependent or random: never folded even when inputs are constant.
# Control flow is never folded either: its body could loop for as long as the model says.
NEVER_FOLD = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli",
              "Loop", "Scan", "If"}  # fmt: skip
FLOAT_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16}


def load_model(source) -> onnx.ModelProto:
    """Read and check an ONNX model from a path, bytes or a ModelProto."""
    if isinstance(source, onnx.ModelProto):
        model = source
    elif isinstance(source, (bytes, bytearray)):
        model = _parse(bytes(source), "<bytes>")
    else:
        model = _read(Path(os.fspath(source)))
    if not model.HasField("graph") or not model.graph.node:
        raise FileError("not an ONNX model: it has no graph (truncated, or another kind of file)")
    check_strings(model)
    check_opset(model_opset(model))
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # noqa: BLE001  (ValidationError, or whatever else the checker raises on odd input)
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InvalidModelError(f"the model fails ONNX's checker: {first_line}") from exc
    return model


def check_strings(message, where: str = "the model") -> None:
    """Every string field is text: protobuf hands back invalid UTF-8 as bytes, which names cannot be."""
    for field, value in message.ListFields():
        repeated = field.is_repeated if hasattr(field, "is_repeated") else field.label == field.LABEL_REPEATED
        items = value if repeated else [value]
        if field.type == field.TYPE_STRING and any(not isinstance(item, str) for item in items):
            raise FileError(f"{where}: field '{field.name}' is not valid UTF-8 text")
        if field.type == field.TYPE_MESSAGE:
            for item in items:
                check_strings(item, where)


def check_opset(opset: int) -> None:
    """Opsets that onnx itself does not know are refused; newer than tested ones get a warning."""
    known = onnx.defs.onnx_opset_version()
    if opset > known:
        raise UnsupportedError(f"the model declares opset {opset}; snnc (with onnx {onnx.__version__}) knows opsets "
                               f"{MIN_OPSET} to {known}")  # fmt: skip
    if opset > MAX_TESTED_OPSET:
        warnings.warn(
            f"the model declares opset {opset}; snnc is tested with opsets {MIN_OPSET} to {MAX_TESTED_OPSET} "
            "(an op that changed since is reported as unsupported)",
            stacklevel=3,
        )


def _read(path: Path) -> onnx.ModelProto:
    model = _parse(read_file(path, "an ONNX model", MODEL_LIMIT), str(path))
    load_external_data(model, path.parent, str(path))
    return model


def _parse(data: bytes, label: str) -> onnx.ModelProto:
    if not data:
        raise FileError(f"{label}: empty file")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise FileError(f"{label}: not an ONNX model, or truncated ({exc})") from exc
    return model


def model_opset(model: onnx.ModelProto) -> int:
    for entry in model.opset_import:
        if entry.domain in DEFAULT_DOMAINS:
            return entry.version
    return 1


def import_onnx(source, input_shapes: dict[str, tuple[int, ...]] | None = None) -> Graph:
    """Import an ONNX model (path, bytes or ModelProto) into an IR graph.

    `input_shapes` fixes dimensions the model leaves dynamic, by input name (the batch
    dimension stays symbolic either way).
    """
    with stage("import"):
        return _import(source, input_shapes)


def _import(source, input_shapes: dict[str, tuple[int, ...]] | None) -> Graph:
    model = load_model(source)
    opset = model_opset(model)
    if opset < MIN_OPSET:
        raise UnsupportedError(f"opset {opset} is older than snnc supports (>= {MIN_OPSET})")
    graph = Graph(model.graph.name or "main")
    constants = {init.name: tensor_value(init) for init in model.graph.initializer}
    batch = _declared_batch(model.graph, constants)
    ctx = ImportContext(graph, opset, batch)
    ctx.constants.update(constants)
    _add_inputs(ctx, model.graph, input_shapes or {})
    for index, node in enumerate(model.graph.node):
        _convert_node(ctx, node, index)
    _set_outputs(ctx, model.graph)
    graph.remove_dead()
    graph.verify()
    return graph


def _declared_batch(onnx_graph: onnx.GraphProto, constants: dict) -> int:
    for value in onnx_graph.input:
        if value.name in constants:
            continue
        dims = value.type.tensor_type.shape.dim
        if dims and dims[0].HasField("dim_value") and dims[0].dim_value > 0:
            return dims[0].dim_value
    return 1


def _add_inputs(ctx: ImportContext, onnx_graph: onnx.GraphProto, overrides: dict) -> None:
    for value in onnx_graph.input:
        if value.name in ctx.constants:  # IR < 4 lists initializers as inputs too
            continue
        tensor = value.type.tensor_type
        if tensor.elem_type not in FLOAT_TYPES:
            kind = onnx.TensorProto.DataType.Name(tensor.elem_type)
            raise UnsupportedError(f"input '{value.name}' is {kind}; snnc compiles networks of float inputs")
        dims = _input_dims(value, overrides.get(value.name))
        ctx.values[value.name] = ctx.graph.add_input(value.name, TensorType((BATCH, *dims[1:])))


def _input_dims(value: onnx.ValueInfoProto, override) -> list[int]:
    dims = value.type.tensor_type.shape.dim
    if override is not None:
        if len(override) != len(dims) and dims:
            raise DataError(f"input '{value.name}' has rank {len(dims)}, --input-shape gave {len(override)}")
        fixed = {i: d.dim_value for i, d in enumerate(dims) if i > 0 and d.HasField("dim_value") and d.dim_value > 0}
        clashing = [i for i, size in fixed.items() if override[i] != size]
        if clashing:  # only the dims the model leaves dynamic can be fixed
            declared = "x".join(str(fixed.get(i, "?")) for i in range(1, len(dims)))
            first = clashing[0]
            raise DataError(f"--input-shape {value.name}: the model declares its sample shape {declared}; "
                            f"dimension {first} is {fixed[first]}, not {override[first]}")  # fmt: skip
        return [1, *override[1:]]
    if not dims:
        raise InvalidModelError(f"input '{value.name}' has no shape; give one with --input-shape")
    result = [1]
    for i, dim in enumerate(dims[1:], start=1):
        if not dim.HasField("dim_value") or dim.dim_value <= 0:
            label = dim.dim_param or "?"
            raise InvalidModelError(
                f"input '{value.name}' has a dynamic dimension {i} ('{label}'); snnc needs static shapes "
                f"except the batch: pass --input-shape {value.name}=1x..."
            )
        result.append(dim.dim_value)
    return result


def _convert_node(ctx: ImportContext, node: onnx.NodeProto, index: int) -> None:
    ctx.begin(node, index)
    if node.domain not in DEFAULT_DOMAINS:
        find_converter(node.domain, node.op_type, ctx.opset, ctx.where)  # raises with the list
    present = [name for name in node.input if name]
    if all(name in ctx.constants for name in present) and node.op_type not in NEVER_FOLD:
        _fold(ctx, node)
        return
    convert = find_converter(node.domain, node.op_type, ctx.opset, ctx.where)
    try:
        result = convert(ctx)
    except SnncError:
        raise
    except (ValueError, TypeError, IndexError, KeyError, ZeroDivisionError, OverflowError) as exc:
        # the checker does not infer shapes: attributes and weights that do not fit each other arrive here
        raise InvalidModelError(f"{ctx.where}: its inputs or attributes do not fit together "
                                f"({type(exc).__name__}: {exc})") from exc  # fmt: skip
    if isinstance(result, np.ndarray):
        ctx.constants[node.output[0]] = result
    else:
        ctx.values[node.output[0]] = result
    for extra in node.output[1:]:
        if extra:
            ctx.values.setdefault(extra, None)  # resolved lazily: using it is an error below


def _fold(ctx: ImportContext, node: onnx.NodeProto) -> None:
    """Evaluate a node whose inputs are all constant with ONNX's reference implementation."""
    feeds = {name: ctx.constants[name] for name in node.input if name}
    untyped = onnx.TensorProto.UNDEFINED
    graph = helper.make_graph(
        [node],
        "fold",
        [helper.make_tensor_value_info(name, untyped, None) for name in feeds],
        [helper.make_tensor_value_info(name, untyped, None) for name in node.output if name],
    )
    # A model, not a bare node, so the evaluator picks the op version of the model's opset.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ctx.opset)])
    _check_fold_size(ctx, node, feeds)
    try:
        results = ReferenceEvaluator(model).run(None, feeds)
    except Exception as exc:  # noqa: BLE001  (any failure of the evaluator means: cannot fold)
        raise ctx.unsupported(f"cannot fold this constant subgraph: {exc}") from exc
    for name, result in zip(node.output, results):
        if name:
            ctx.constants[name] = np.asarray(result)


def _check_fold_size(ctx: ImportContext, node: onnx.NodeProto, feeds: dict) -> None:
    """Ops whose output size is a value, not a shape, are checked before they allocate it."""
    try:
        if node.op_type in ("ConstantOfShape", "Expand"):
            elements = math.prod(int(d) for d in np.ravel(feeds[node.input[-1]]))
        elif node.op_type == "Tile":
            elements = feeds[node.input[0]].size * math.prod(int(r) for r in np.ravel(feeds[node.input[1]]))
        elif node.op_type == "Range":
            start, limit, delta = (float(np.ravel(feeds[name])[0]) for name in node.input[:3])
            elements = math.ceil((limit - start) / delta) if delta else math.inf
        else:
            return
    except (KeyError, IndexError, ValueError, TypeError, OverflowError):
        return  # the evaluator reports what is wrong
    if not elements <= FOLD_LIMIT:
        raise ctx.unsupported(f"folding this constant would make {elements:,} elements (at most {FOLD_LIMIT:,})")


def _set_outputs(ctx: ImportContext, onnx_graph: onnx.GraphProto) -> None:
    for value in onnx_graph.output:
        if value.name in ctx.constants:
            raise UnsupportedError(f"output '{value.name}' is a constant: the model does not depend on its input")
        if ctx.values.get(value.name) is None:
            raise UnsupportedError(f"output '{value.name}' is a secondary output (e.g. a pooling index or mask)")
        ctx.graph.outputs.append(ctx.values[value.name])
