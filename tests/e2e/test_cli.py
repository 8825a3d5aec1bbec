"""The `snnc` command line: inspect output, and a clear one-line error with a documented exit
code for every kind of bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import onnx
import pytest
from onnx import TensorProto, helper

import snnc
from snnc import errors
from snnc.cli import main
from snnc.ir.text import parse_graph
from tests.frontend.helpers import make_model, weights


@pytest.fixture
def small_model(tmp_path):
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], name="conv1"),
        helper.make_node("Relu", ["c"], ["r"], name="relu1"),
        helper.make_node("Flatten", ["r"], ["f"]),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], transB=1, name="fc"),
    ]
    inits = {"w": weights((4, 1, 3, 3)), "b": weights((4,)), "fw": weights((3, 64)), "fb": weights((3,))}
    path = tmp_path / "small.onnx"
    onnx.save(make_model(nodes, (1, 1, 4, 4), initializers=inits), path)
    return path


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_inspect_table(capsys, small_model):
    code, out, err = run_cli(capsys, "inspect", small_model)
    assert code == 0 and err == ""
    assert "conv1" in out and "Nx4x4x4" in out
    # conv: 4·4·4 outputs × 9 MACs; gemm: 3 × 64
    assert f"{4 * 16 * 9 + 3 * 64:,} MACs per sample" in out
    assert f"{4 * 9 + 4 + 3 * 64 + 3:,} parameters" in out


def test_inspect_json(capsys, small_model):
    code, out, _ = run_cli(capsys, "inspect", small_model, "--json")
    report = json.loads(out)
    assert code == 0
    assert report["totals"]["params"] == 4 * 9 + 4 + 3 * 64 + 3
    assert report["totals"]["macs"] == 4 * 16 * 9 + 3 * 64
    conv = next(layer for layer in report["layers"] if layer["name"] == "conv1")
    assert conv == {
        "name": "conv1",
        "op": "conv",
        "inputs": ["x"],
        "output_shape": ["N", 4, 4, 4],
        "params": 40,
        "macs": 576,
    }


def test_inspect_ir_with_weights_parses_back(capsys, small_model):
    code, out, _ = run_cli(capsys, "inspect", small_model, "--ir", "--weights")
    assert code == 0
    assert parse_graph(out) == snnc.import_onnx(small_model)


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and snnc.__version__ in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "exit codes:" in capsys.readouterr().out


def test_version_and_help_load_no_heavy_module():
    """Start-up stays short: --version and --help import neither onnx, onnxruntime, LLVM nor tqdm
    (they load with the commands that use them)."""
    heavy = ("onnx", "onnxruntime", "llvmlite", "tqdm")
    script = ("import sys\nfrom snnc.cli import main\nfor argv in (['--version'], ['--help']):\n"
              "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
              f"print(sorted(m for m in {heavy!r} if m in sys.modules))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_no_command_is_a_usage_error(capsys):
    assert main([]) == errors.USAGE


def write_model(tmp_path, nodes, inputs, outputs, opset=13, domain_opsets=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs)
    opsets = [helper.make_opsetid("", opset), *domain_opsets]
    path = tmp_path / "m.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=opsets).SerializeToString())
    return path


def float_info(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def test_missing_file(capsys, tmp_path):
    code, out, err = run_cli(capsys, "inspect", tmp_path / "nope.onnx")
    assert code == errors.BAD_FILE and "no such file" in err and out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_not_onnx(capsys, tmp_path):
    path = tmp_path / "bad.onnx"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    code, _, err = run_cli(capsys, "inspect", path)
    assert code == errors.BAD_FILE and "not an ONNX model" in err


def test_empty_file_and_directory(capsys, tmp_path):
    (tmp_path / "empty.onnx").write_bytes(b"")
    assert run_cli(capsys, "inspect", tmp_path / "empty.onnx")[0] == errors.BAD_FILE
    assert run_cli(capsys, "inspect", tmp_path)[0] == errors.BAD_FILE


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.999])
def test_truncated_file(capsys, small_model, tmp_path, fraction):
    data = small_model.read_bytes()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: int(len(data) * fraction)])
    code, _, err = run_cli(capsys, "inspect", path)
    assert code in (errors.BAD_FILE, errors.INVALID_MODEL), err
    assert err.startswith("snnc: error:") and "Traceback" not in err


def test_model_failing_the_checker(capsys, tmp_path):
    nodes = [helper.make_node("Relu", ["missing"], ["y"])]
    path = write_model(tmp_path, nodes, [float_info("x", ["N", 3])], [float_info("y", ["N", 3])])
    code, _, err = run_cli(capsys, "inspect", path)
    assert code == errors.INVALID_MODEL and "checker" in err


def test_unsupported_op_names_node_op_domain_and_opset(capsys, tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["h"]), helper.make_node("Erf", ["h"], ["y"], name="erf_7")]
    path = write_model(tmp_path, nodes, [float_info("x", ["N", 3])], [float_info("y", ["N", 3])], opset=15)
    code, _, err = run_cli(capsys, "inspect", path)
    assert code == errors.UNSUPPORTED
    for part in ("erf_7", "Erf", "ai.onnx", "opset 15", "Supported:", "Conv", "MaxPool"):
        assert part in err


def test_custom_domain_op(capsys, tmp_path):
    nodes = [helper.make_node("Gelu", ["x"], ["y"], domain="com.microsoft", name="g")]
    path = write_model(
        tmp_path,
        nodes,
        [float_info("x", ["N", 3])],
        [float_info("y", ["N", 3])],
        domain_opsets=[helper.make_opsetid("com.microsoft", 1)],
    )
    code, _, err = run_cli(capsys, "inspect", path)
    assert code == errors.UNSUPPORTED and "com.microsoft" in err and "'g'" in err


def test_dynamic_spatial_dimension(capsys, tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["y"])]
    path = write_model(tmp_path, nodes, [float_info("x", ["N", 3, "H", 8])], [float_info("y", ["N", 3, "H", 8])])
    code, _, err = run_cli(capsys, "inspect", path)
    assert code == errors.INVALID_MODEL and "dynamic dimension 2 ('H')" in err and "--input-shape" in err
    code, out, _ = run_cli(capsys, "inspect", path, "--input-shape", "x=1x3x5x8", "--json")
    assert code == 0 and json.loads(out)["totals"]["inputs"] == {"x": ["N", 3, 5, 8]}
    code, _, err = run_cli(capsys, "inspect", path, "--input-shape", "x=1x4x5x8")  # a static dim differs
    assert code == errors.BAD_DATA and "declares its sample shape 3x?x8; dimension 1 is 3, not 4" in err
    code, _, err = run_cli(capsys, "inspect", path, "--input-shape", "x=1x3x5")
    assert code == errors.BAD_DATA and "rank 4" in err


def test_bad_input_shape_flag(capsys, small_model):
    code, _, err = run_cli(capsys, "inspect", small_model, "--input-shape", "x=1xtwo")
    assert code == errors.BAD_DATA and "NAME=DIM" in err


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(errors.FileError):
        main(["inspect", str(tmp_path / "nope.onnx"), "--debug"])


def test_internal_errors_are_one_line(capsys, small_model, monkeypatch):
    monkeypatch.setattr("snnc.inspection.inspect_graph", lambda graph: 1 / 0)
    code, _, err = run_cli(capsys, "inspect", small_model)
    assert code == errors.INTERNAL and "ZeroDivisionError" in err and "--debug" in err
    assert len(err.strip().splitlines()) == 1


def test_console_script_end_to_end(small_model):
    done = subprocess.run(
        [sys.executable, "-m", "snnc", "inspect", str(small_model), "--json"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["totals"]["params"] == 235
    missing = subprocess.run([sys.executable, "-m", "snnc", "inspect", "nope.onnx"], capture_output=True, text=True)
    assert missing.returncode == errors.BAD_FILE and missing.stderr.startswith("snnc: error:")
