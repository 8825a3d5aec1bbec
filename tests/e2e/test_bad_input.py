"""Every kind of bad input that issue 22's attack found ending as an internal error: each now
gets its documented exit code and one line on stderr (the fuzz suite, tests/fuzz, mutates them
at random; these are the named cases)."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import types

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from snnc import errors
from snnc.cli import main
from tests.fuzz import mutators
from tests.fuzz.seeds import tiny_model
from tests.targets.cpu.test_native_program import EXAMPLES


def cli(capsys, *args) -> tuple[int, str]:
    code = main([str(a) for a in args])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if not line.startswith("snnc: warning:")]
    if code != 0:
        assert len(lines) == 1 and lines[0].startswith("snnc: error:"), err
    return code, err


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny model, its data, a cpu artifact and an accel artifact with its .snnx."""
    folder = tmp_path_factory.mktemp("bad")
    onnx.save(tiny_model(), folder / "m.onnx")
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 1, (12, 3, 8, 8)).astype(np.float32), rng.integers(0, 5, 12)
    np.savez(folder / "d.npz", x=x, y=y)
    for target, name in (("cpu", "c.snnc"), ("accel", "a.snnc")):
        args = [folder / "m.onnx", "-t", target, "--neuron", "if", "-T", "4", "--calib", folder / "d.npz"]
        assert main([str(a) for a in [*args, "-o", folder / name, "-q"]]) == 0
    return folder


# -- ONNX models ----------------------------------------------------------------------------------
def test_names_that_are_not_utf8(files, tmp_path, capsys):
    data = (files / "m.onnx").read_bytes().replace(b"conv1", b"\xff\xfe\xc3v1", 1)
    (tmp_path / "bad.onnx").write_bytes(data)
    code, err = cli(capsys, "inspect", tmp_path / "bad.onnx")
    assert code == errors.BAD_FILE and "not valid UTF-8" in err


def test_gemm_whose_weights_do_not_fit(tmp_path, capsys):
    model = tiny_model()
    gemm = next(n for n in model.graph.node if n.op_type == "Gemm")
    del gemm.attribute[:]  # transB = 0: B must be (64, 5), it is (5, 64)
    onnx.save(model, tmp_path / "bad.onnx")
    code, err = cli(capsys, "inspect", tmp_path / "bad.onnx")
    assert code in (errors.INVALID_MODEL, errors.UNSUPPORTED) and "fc" in err


@pytest.mark.parametrize("location", ["../outside.bin", "/etc/hostname", "dev", "fifo", "missing.bin"])
def test_external_data_outside_the_model_folder_or_not_a_file(tmp_path, capsys, location):
    model = tiny_model()
    tensor = model.graph.initializer[0]
    (tmp_path / "outside.bin").write_bytes(tensor.raw_data)
    folder = tmp_path / "model"
    folder.mkdir()
    if location == "dev":
        (folder / "dev").symlink_to("/dev/zero")
    if location == "fifo":
        os.mkfifo(folder / "fifo")
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", location
    (folder / "m.onnx").write_bytes(model.SerializeToString())
    code, err = cli(capsys, "inspect", folder / "m.onnx")
    assert code == errors.BAD_FILE and "w1" in err


def test_external_data_inside_the_folder_is_read(tmp_path, capsys):
    model = tiny_model()
    tensor = model.graph.initializer[0]
    (tmp_path / "w1.bin").write_bytes(b"pad" + tensor.raw_data)
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "w1.bin"), ("offset", "3"), ("length", str(4 * 108))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    (tmp_path / "m.onnx").write_bytes(model.SerializeToString())
    assert cli(capsys, "inspect", tmp_path / "m.onnx")[0] == errors.OK


def test_an_opset_beyond_what_onnx_knows_is_refused(tmp_path, capsys):
    model = tiny_model()
    model.opset_import[0].version = 99
    (tmp_path / "m.onnx").write_bytes(model.SerializeToString())
    code, err = cli(capsys, "inspect", tmp_path / "m.onnx")
    assert code == errors.UNSUPPORTED and "opset 99" in err


def test_an_opset_newer_than_tested_gets_a_warning(tmp_path, capsys):
    model = tiny_model()
    model.opset_import[0].version = onnx.defs.onnx_opset_version()
    if model.opset_import[0].version <= 25:
        pytest.skip("this onnx knows no opset beyond the tested ones")
    (tmp_path / "m.onnx").write_bytes(model.SerializeToString())
    code, err = cli(capsys, "inspect", tmp_path / "m.onnx")
    assert code == errors.OK and "is tested with opsets 6 to 25" in err


def test_a_declared_shape_larger_than_memory_is_refused_before_allocating(tmp_path, capsys):
    ops = [("Conv", ["x", "w"], "c"), ("Relu", ["c"], "r"), ("GlobalAveragePool", ["r"], "g"), ("Flatten", ["g"], "y")]
    nodes = [helper.make_node(op, inputs, [output]) for op, inputs, output in ops]
    weight = onnx.numpy_helper.from_array(np.ones((2, 1, 1, 1), np.float32), "w")
    shape = ["N", 1, 100000, 100000]
    graph = helper.make_graph(nodes, "huge", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])], [weight])  # fmt: skip
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "huge.onnx")
    assert cli(capsys, "inspect", tmp_path / "huge.onnx")[0] == errors.OK
    code, err = cli(capsys, tmp_path / "huge.onnx", "-t", "cpu", "-o", tmp_path / "h.snnc", "--data-free")
    assert code == errors.DOES_NOT_FIT and "'c'" in err and "GiB" in err


# -- .snnc artifacts ------------------------------------------------------------------------------
def rewrite(source, target, member: str, change) -> None:
    members = mutators.read_zip(source.read_bytes())
    members[member] = change(members[member])
    target.write_bytes(mutators.write_zip(members))


def manifest_change(change):
    def apply(data: bytes) -> bytes:
        manifest = json.loads(data)
        change(manifest)
        return json.dumps(manifest).encode()

    return apply


def ir_change(old: str, new: str):
    def apply(data: bytes) -> bytes:
        text = data.decode()
        assert old in text
        return text.replace(old, new, 1).encode()

    return apply


ARTIFACT_DAMAGE = {
    "settings a list": ("manifest.json", manifest_change(lambda m: m.update(settings=[1, 2]))),
    "T a string": ("manifest.json", manifest_change(lambda m: m["settings"].update(timesteps="8"))),
    "notes a number": ("manifest.json", manifest_change(lambda m: m.update(notes=5))),
    "chip of negative size": ("manifest.json", manifest_change(lambda m: m["settings"].update(chip={"cores_x": -1}))),
    "bad base64": ("graph.ir", ir_change('"b64": "', '"b64": "!!')),
    "weights of the wrong size": ("graph.ir", ir_change('"shape": [', '"shape": [7, ')),
    "object dtype": ("graph.ir", ir_change('"dtype": "float32"', '"dtype": "object"')),
    "NaN threshold": ("graph.ir", lambda d: _nan_threshold(d)),
    "garbage program": ("program.snnx", lambda d: b"SNNX" + bytes(60)),
}


def _nan_threshold(data: bytes) -> bytes:
    lines = data.decode().splitlines()
    for index, line in enumerate(lines):
        if "= neuron(" in line:
            start = line.index('"threshold": {')
            end = line.index("}", start) + 1
            nan = {"dtype": "float32", "shape": [], "b64": "AADAfw=="}  # float32 NaN
            lines[index] = line[:start] + '"threshold": ' + json.dumps(nan) + line[end:]
            break
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("damage", sorted(ARTIFACT_DAMAGE))
def test_damaged_artifacts_are_file_errors(files, tmp_path, capsys, damage):
    member, change = ARTIFACT_DAMAGE[damage]
    source = files / ("a.snnc" if member == "program.snnx" else "c.snnc")
    rewrite(source, tmp_path / "bad.snnc", member, change)
    code, _ = cli(capsys, "run", tmp_path / "bad.snnc", "--input", files / "d.npz", "-q")
    assert code == errors.BAD_FILE


def test_a_member_larger_than_the_limit_is_refused_before_reading(files, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SNNC_MAX_MEMBER_BYTES", str(8 << 20))
    members = mutators.read_zip((files / "c.snnc").read_bytes())
    (tmp_path / "bomb.snnc").write_bytes(
        mutators.zip_bomb("graph.ir", 16 << 20, {"manifest.json": members["manifest.json"]})
    )
    code, err = cli(capsys, "run", tmp_path / "bomb.snnc", "--input", files / "d.npz", "-q")
    assert code == errors.BAD_FILE and "SNNC_MAX_MEMBER_BYTES" in err


def test_a_program_file_given_to_run_and_an_artifact_given_to_sim(files, capsys):
    code, err = cli(capsys, "run", files / "a.snnx", "--input", files / "d.npz")
    assert code == errors.BAD_FILE and "snnc sim" in err
    code, err = cli(capsys, "sim", files / "a.snnc", "--input", files / "d.npz")
    assert code == errors.BAD_FILE and "snnc run" in err


# -- .snnx programs -------------------------------------------------------------------------------
def with_meta(program: bytes, change) -> bytes:
    header, sections = mutators.split_program(program)
    sections = [(k, json.dumps(change(json.loads(d))).encode() if k == b"META" else d) for k, d in sections]
    return mutators.join_program(header, sections)


def _set(path, value):
    def change(meta):
        target = meta
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return meta

    return change


@pytest.mark.parametrize("path, value", [
    (("slots",), -3),
    (("layers", 0, "shape"), [4, 100000, 100000]),
    (("layers", 1, "synapses", 0, "source"), "nowhere"),
    (("cores", 0, "descriptors", 0, "bytes"), 10**9),
    (("layers", 0, "synapses", 0, "pads"), [1, 1, 0, 1]),
    (("cores", 0, "rows"), [0, 1]),
    (("exit", "threshold"), float("nan")),
])  # fmt: skip
def test_programs_with_a_valid_checksum_and_an_inconsistent_meta(files, tmp_path, capsys, path, value):
    (tmp_path / "bad.snnx").write_bytes(with_meta((files / "a.snnx").read_bytes(), _set(path, value)))
    code, err = cli(capsys, "sim", tmp_path / "bad.snnx", "--input", files / "d.npz", "-q")
    assert code == errors.BAD_FILE and "inconsistent program" in err


# -- data -----------------------------------------------------------------------------------------
def npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


X = np.random.default_rng(2).uniform(0, 1, (6, 3, 8, 8)).astype(np.float32)
BAD_DATA = {
    "truncated": npz(x=X)[:300],
    "scalar x": npz(x=np.float32(1)),
    "empty x": npz(x=X[:0]),
    "NaN": npz(x=np.where(X > 0.5, np.nan, X)),
    "Inf": npz(x=np.where(X > 0.5, np.inf, X)),
    "bool": npz(x=X > 0.5),
    "complex": npz(x=X.astype(np.complex64)),
    "datetime": npz(x=np.zeros(X.shape, "datetime64[s]")),
    "labels too few": npz(x=X, y=np.arange(5)),
    "labels as floats": npz(x=X, y=np.zeros(6)),
    "labels out of range": npz(x=X, y=np.full(6, 9)),
    "labels 2-D": npz(x=X, y=np.zeros((6, 1), np.int64)),
    "pickled objects": npz(x=np.array([{}] * 6, dtype=object)),
}


@pytest.mark.parametrize("command", ["run", "sim"])
@pytest.mark.parametrize("kind", sorted(BAD_DATA))
def test_bad_data_is_exit_6_in_run_and_sim_alike(files, tmp_path, capsys, command, kind):
    (tmp_path / "d.npz").write_bytes(BAD_DATA[kind])
    program = files / ("c.snnc" if command == "run" else "a.snnx")
    code, _ = cli(capsys, command, program, "--input", tmp_path / "d.npz", "-q")
    assert code == errors.BAD_DATA


def test_a_bare_npy_is_read_as_x(files, tmp_path, capsys):
    np.save(tmp_path / "x.npy", X)
    assert cli(capsys, "run", files / "c.snnc", "--input", tmp_path / "x.npy", "-q")[0] == errors.OK


def test_a_declared_size_over_the_limit_is_refused_before_reading(files, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SNNC_MAX_DATA_BYTES", str(1 << 20))
    (tmp_path / "bomb.npz").write_bytes(mutators.zip_bomb("x.npy", 4 << 20))
    code, err = cli(capsys, "run", files / "c.snnc", "--input", tmp_path / "bomb.npz", "-q")
    assert code == errors.BAD_DATA and "SNNC_MAX_DATA_BYTES" in err


def test_a_fifo_as_data_does_not_hang(files, tmp_path, capsys):
    os.mkfifo(tmp_path / "d.npz")
    code, err = cli(capsys, "run", files / "c.snnc", "--input", tmp_path / "d.npz", "-q")
    assert code == errors.BAD_DATA and "not a regular file" in err


# -- chip configurations --------------------------------------------------------------------------
BAD_CONFIGS = ["chip = 5", "energy = [1, 2]", "[[chip]]\nlanes = 2", "[chip]\nlanes = 1e400",
               "[chip]\nweight_sram_kib = 99999999999", "[energy]\nsram_pj_per_64b = 3"]  # fmt: skip


@pytest.mark.parametrize("text", BAD_CONFIGS)
def test_bad_chip_configurations_are_usage_errors(files, tmp_path, capsys, text):
    (tmp_path / "c.toml").write_text(text + "\n")
    code, err = cli(capsys, "check", files / "m.onnx", "-t", "accel", "--config", tmp_path / "c.toml", "--data-free")
    assert code == errors.USAGE and "chip configuration" in err


# -- outputs --------------------------------------------------------------------------------------
def test_an_unwritable_output_is_exit_3_and_keeps_the_old_file(files, tmp_path, capsys):
    (tmp_path / "blocker").write_text("a file where a folder should be")
    code, err = cli(capsys, files / "m.onnx", "--calib", files / "d.npz", "-o", tmp_path / "blocker" / "m.snnc", "-q")
    assert code == errors.BAD_FILE and "blocker" in err


def test_a_full_disk_is_exit_3_and_keeps_the_old_file(files, tmp_path):
    import resource

    out = tmp_path / "m.snnc"
    out.write_bytes(b"the result of yesterday")

    def small_disk():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    done = subprocess.run([sys.executable, "-m", "snnc", str(files / "m.onnx"), "--calib", str(files / "d.npz"),
                           "-o", str(out), "-q"], capture_output=True, text=True, preexec_fn=small_disk)  # fmt: skip
    assert done.returncode == errors.BAD_FILE, done.stderr
    assert done.stderr.strip().startswith("snnc: error:") and "Traceback" not in done.stderr
    assert out.read_bytes() == b"the result of yesterday"
    assert [p.name for p in tmp_path.iterdir()] == ["m.snnc"]  # no temporary file left


# -- Ctrl-C ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("delay", [0.15, 0.3, 0.6, 1.2, 1.8])  # the whole command takes 2.5 s here
def test_ctrl_c_at_any_moment_exits_130_without_a_traceback(tmp_path, delay):
    """From start-up (the imports) through compilation: SIGINT after `delay` seconds."""
    command = [sys.executable, "-m", "snnc", str(EXAMPLES / "fmnist_vgg.onnx"), "--calib",
               str(EXAMPLES / "fmnist_calib.npz"), "-o", str(tmp_path / "v.snnc"), "-q"]  # fmt: skip
    env = {**os.environ, "SNNC_CACHE_DIR": str(tmp_path / "cache")}  # empty: no cached calibration
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    time.sleep(delay)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=120)
    assert child.returncode == errors.INTERRUPTED, err
    assert "Traceback" not in err and err.strip().endswith("snnc: interrupted")


def test_an_interrupt_python_ignored_still_exits_130(monkeypatch, capsys):
    """Raised inside an import lock's weakref callback, KeyboardInterrupt is ignored by Python
    (its traceback printed) and the command runs on: it still ends with 130, and no traceback."""
    from snnc import cli

    def interrupted_then_done(argv):
        cli._Interrupts.seen = True
        sys.unraisablehook(types.SimpleNamespace(exc_type=KeyboardInterrupt, exc_value=KeyboardInterrupt(),
                                                 exc_traceback=None, err_msg=None, object=None))  # fmt: skip
        return errors.OK

    monkeypatch.setattr(cli, "_main", interrupted_then_done)
    assert cli.main([]) == errors.INTERRUPTED
    err = capsys.readouterr().err
    assert err.strip() == "snnc: interrupted" and "Traceback" not in err


def test_a_damaged_deflate_stream_is_a_file_error(files, tmp_path, capsys):
    data = bytearray((files / "c.snnc").read_bytes())
    position = data.index(b"graph.ir") + 200
    data[position : position + 32] = bytes(32)
    (tmp_path / "bad.snnc").write_bytes(bytes(data))
    code, _ = cli(capsys, "run", tmp_path / "bad.snnc", "--input", files / "d.npz", "-q")
    assert code == errors.BAD_FILE


# -- conversion -------------------------------------------------------------------------------------
def test_an_unknown_calibration_engine_is_exit_7(files, tmp_path, capsys):
    passes = "fold-constants,canonicalize,fold-bn,lower-pooling,substitute-neurons,balance-thresholds{engine=gpu}"
    code, err = cli(capsys, files / "m.onnx", "--calib", files / "d.npz", "--passes", passes, "-o", tmp_path / "m.snnc")
    assert code == errors.NOT_CONVERTIBLE and "engine must be one of" in err and "Traceback" not in err


def test_weight_bounds_past_float32_without_calibration_are_exit_7(tmp_path, capsys):
    """Model-based thresholds (--data-free) of a deep network with huge weights: a one-line error."""
    rng = np.random.default_rng(0)
    nodes, initializers, source = [], [], "x"
    for i in range(4):
        scale = 1.0 if i == 0 else 1e15
        initializers.append(helper.make_tensor(f"w{i}", TensorProto.FLOAT, [3, 3, 3, 3],
                                               (rng.standard_normal(81) * scale).tolist()))  # fmt: skip
        nodes += [helper.make_node("Conv", [source, f"w{i}"], [f"c{i}"], pads=[1, 1, 1, 1]),
                  helper.make_node("Relu", [f"c{i}"], [f"r{i}"])]  # fmt: skip
        source = f"r{i}"
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 5, 5])]
    outputs = [helper.make_tensor_value_info(source, TensorProto.FLOAT, ["N", 3, 5, 5])]
    graph = helper.make_graph(nodes, "deep", inputs, outputs, initializers)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "deep.onnx")
    code, err = cli(capsys, tmp_path / "deep.onnx", "-t", "cpu", "-o", tmp_path / "deep.snnc", "--data-free")
    assert code == errors.NOT_CONVERTIBLE and "--calib" in err and "Traceback" not in err
    assert not (tmp_path / "deep.snnc").exists()
