"""Load the ONNX backend test cases that ship inside the onnx package, in memory.

Node tests come from `onnx.backend.test.case.node` (their data is generated, not read from
disk); model tests from `onnx/backend/test/data/{simple,pytorch-converted,pytorch-operator,light}`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

DATA = Path(onnx.__file__).parent / "backend" / "test" / "data"
# Operands that snnc accepts as computed tensors; any other extra input is bound as a constant.
DATA_OPERAND_OPS = {"Add", "Sub", "Sum", "Concat"}


@dataclass
class Case:
    name: str
    model: onnx.ModelProto
    inputs: list[np.ndarray]
    outputs: list[np.ndarray]
    rtol: float = 1e-3
    atol: float = 1e-5


def node_cases() -> list[Case]:
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():  # generating some cases' data overflows on purpose
        warnings.simplefilter("ignore")
        generated = collect_testcases(None)
    cases = []
    for case in generated:
        if not case.data_sets:
            continue
        inputs, outputs = case.data_sets[0]
        cases.append(Case(case.name, case.model, list(inputs), list(outputs), case.rtol, case.atol))
    return cases


def model_dir_cases() -> list[Case]:
    cases = []
    for group in ("simple", "pytorch-converted", "pytorch-operator"):
        for folder in sorted((DATA / group).iterdir()):
            data_set = folder / "test_data_set_0"
            if not (folder / "model.onnx").exists() or not data_set.exists():
                continue
            model = onnx.load(folder / "model.onnx")
            inputs = [_read_tensor(p) for p in sorted(data_set.glob("input_*.pb"))]
            outputs = [_read_tensor(p) for p in sorted(data_set.glob("output_*.pb"))]
            cases.append(Case(f"{group}/{folder.name}", model, inputs, outputs))
    return cases


def light_model_paths() -> list[Path]:
    return sorted((DATA / "light").glob("light_*.onnx"))


def _read_tensor(path: Path) -> np.ndarray:
    tensor = onnx.TensorProto()
    tensor.ParseFromString(path.read_bytes())
    return numpy_helper.to_array(tensor)


def bind_constants(case: Case, data_inputs: int | None = None) -> tuple[onnx.ModelProto, list[np.ndarray]]:
    """Turn every graph input but the data ones into an initializer holding the test's value.

    snnc compiles trained networks: weights are constants, so a test that feeds W as an input
    is run with W baked in. By default input 0 is data, plus later inputs of Add/Sub/Sum/Concat
    whose leading dimension matches input 0 (both operands computed).
    """
    model = onnx.ModelProto()
    model.CopyFrom(case.model)
    graph = model.graph
    names = [v.name for v in graph.input]
    keep = _data_input_indices(case, names) if data_inputs is None else set(range(data_inputs))
    constants = [i for i in range(len(names)) if i not in keep and i < len(case.inputs)]
    for i in constants:
        graph.initializer.append(numpy_helper.from_array(case.inputs[i], names[i]))
    if model.ir_version >= 4:  # before IR 4, initializers must also be listed as inputs
        kept_inputs = [v for i, v in enumerate(graph.input) if i not in constants]
        del graph.input[:]
        graph.input.extend(kept_inputs)
    return model, [case.inputs[i] for i in sorted(keep) if i < len(case.inputs)]


def _data_input_indices(case: Case, names: list[str]) -> set[int]:
    keep = {0}
    ops = {node.op_type for node in case.model.graph.node}
    if ops <= DATA_OPERAND_OPS and case.inputs:
        first = case.inputs[0]
        for i, array in enumerate(case.inputs[1:], start=1):
            if array.ndim == first.ndim and array.shape[:1] == first.shape[:1]:
                keep.add(i)
    return keep
