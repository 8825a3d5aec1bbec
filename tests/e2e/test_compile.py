"""`snnc compile / run / eval` and the Python API: artifacts, reports, and a clear error with
a documented exit code for each kind of bad input."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

import snnc
from snnc import errors
from snnc.cli import main
from tests.frontend.helpers import make_model, weights


def tiny_cnn(activation: str = "Relu") -> onnx.ModelProto:
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
        helper.make_node(activation, ["c1"], ["r1"], name="act1"),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2], name="pool1"),
        helper.make_node("Flatten", ["p1"], ["f"]),
        helper.make_node("Gemm", ["f", "w2", "b2"], ["y"], transB=1, name="fc"),
    ]
    inits = {
        "w1": weights((4, 1, 3, 3)),
        "b1": weights((4,), 2) * 0.1,
        "w2": weights((3, 64), 3),
        "b2": weights((3,), 4),
    }
    return make_model(nodes, (1, 1, 8, 8), initializers=inits)


@pytest.fixture
def model_path(tmp_path):
    path = tmp_path / "tiny.onnx"
    onnx.save(tiny_cnn(), path)
    return path


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "data.npz"
    np.savez(path, x=rng.uniform(0, 1, (40, 1, 8, 8)).astype(np.float32), y=rng.integers(0, 3, 40))
    return path


def cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_compile_writes_a_program_that_loads_and_runs(capsys, tmp_path, model_path, data):
    out = tmp_path / "out" / "tiny.snnc"
    code, stdout, _ = cli(capsys, "compile", model_path, "-t", "cpu", "-T", "6", "--calib", data, "-o", out, "--json")
    assert code == 0
    report = json.loads(stdout)
    assert report["settings"]["timesteps"] == 6 and report["latency_steps"] == (1 + 1) * 6  # one neuron stage
    assert [layer["stage"] for layer in report["layers"]] == [1]
    stages = report["stages"]  # each pass, and the cpu target's stages (LLVM's unless the cache had the code)
    assert {"import", "fold-bn", "balance-thresholds", "schedule", "plan", "load", "save"} <= set(stages)
    assert all(row["cpu"] >= 0 and row["wall"] >= 0 and row["peak_mib"] > 0 for row in stages.values())
    assert sorted(p.name for p in out.parent.iterdir()) == ["tiny.snnc"]  # no temporary left behind
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # like any file the user writes, not 0600
    program = snnc.load(out)
    x = np.load(data)["x"]
    expected = snnc.compile(model_path, timesteps=6, calibration=x).run(x[:5])
    np.testing.assert_array_equal(program.run(x[:5]).logits, expected.logits)


def test_default_command_and_output_name(capsys, tmp_path, model_path, data, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(capsys, model_path, "-t", "accel", "--calib", data, "-q")
    assert code == 0 and (tmp_path / "tiny.snnc").exists()
    assert snnc.load(tmp_path / "tiny.snnc").settings.target == "accel"


def test_run_prints_predictions_and_writes_npz(capsys, tmp_path, model_path, data):
    cli(capsys, "compile", model_path, "--calib", data, "-o", tmp_path / "t.snnc", "-q")
    code, stdout, _ = cli(capsys, "run", tmp_path / "t.snnc", "--input", data, "--json", "--output", tmp_path / "o.npz")
    report = json.loads(stdout)
    assert code == 0 and len(report["predictions"]) == 40 and 0 <= report["accuracy"] <= 1
    assert report["activity"]["images"] == 40 and report["activity"]["sops_per_image"] > 0
    saved = np.load(tmp_path / "o.npz")
    assert saved["logits"].shape == (40, 3) and list(saved["predictions"]) == report["predictions"]


def test_run_quiet_says_nothing_and_loud_says_how_fast(capsys, tmp_path, model_path, data):
    """-q: no table, no log, no predictions; without it, the table and the speed, and the
    compile log stays with compile (the notes are in --json)."""
    cli(capsys, "compile", model_path, "--calib", data, "-o", tmp_path / "t.snnc", "-q")
    code, stdout, stderr = cli(capsys, "run", tmp_path / "t.snnc", "--data", data, "-q")
    assert code == 0 and stdout == "" and stderr == ""
    code, stdout, _ = cli(capsys, "run", tmp_path / "t.snnc", "--data", data)
    assert code == 0 and "firing rate" in stdout and "[balance-thresholds]" not in stdout
    assert __import__("re").search(r"40 images in [0-9.]+ s: [0-9,]+ images/s", stdout), stdout
    code, stdout, _ = cli(capsys, "run", tmp_path / "t.snnc", "--input", data, "--json")  # --input: an alias
    report = json.loads(stdout)
    assert report["speed"]["images"] == 40 and report["speed"]["images_per_s"] > 0 and report["notes"]


def test_a_program_given_to_the_wrong_command_says_which_command_runs_it(capsys, tmp_path, model_path, data):
    cli(capsys, "compile", model_path, "--calib", data, "-o", tmp_path / "t.snnc", "-q")
    code, out, err = cli(capsys, "sim", tmp_path / "t.snnc", "--data", data)
    assert code == errors.BAD_FILE and out == ""
    assert err == f"snnc: error: {tmp_path / 't.snnc'}: a snnc program (.snnc), not an accelerator program (.snnx): " \
                  "run it with `snnc run`\n"  # fmt: skip
    (tmp_path / "t.snnx").write_bytes(b"SNNX" + bytes(60))
    code, out, err = cli(capsys, "run", tmp_path / "t.snnx", "--data", data)
    assert code == errors.BAD_FILE and out == ""
    assert err == f"snnc: error: {tmp_path / 't.snnx'}: an accelerator program (.snnx), not a .snnc artifact: " \
                  "run it with `snnc sim`\n"  # fmt: skip


def test_recorded_layers_are_keyed_without_the_onnx_names_leading_slash(capsys, tmp_path):
    examples = Path(__file__).resolve().parents[2] / "examples"
    program = snnc.compile(examples / "fmnist_vgg.onnx", calibration=np.load(examples / "fmnist_calib.npz")["x"][:32])
    program.save(tmp_path / "v.snnc")
    np.savez(tmp_path / "x.npz", x=np.load(examples / "fmnist_test.npz")["x"][:3])
    layer = "/features/features.2/Relu"
    code, _, _ = cli(capsys, "run", tmp_path / "v.snnc", "--data", tmp_path / "x.npz", "--record", layer,
                     "--output", tmp_path / "o.npz", "-q")  # fmt: skip
    saved = np.load(tmp_path / "o.npz")
    assert code == 0 and "spikes/features/features.2/Relu" in saved.files
    assert saved["spikes/features/features.2/Relu"].shape == (3, 8, 32, 28, 28)


def test_eval_skips_what_a_neuron_model_cannot_run(capsys, tmp_path, model_path, data):
    """iLIF's bits fit an int32: T = 40 is skipped with a reason, the other rows run."""
    code, stdout, _ = cli(capsys, "eval", model_path, "--data", data, "--calib", data, "--neuron", "ilif,if",
                          "-T", "4,40", "--json", "-q")  # fmt: skip
    report = json.loads(stdout)
    assert code == 0 and [(r["neuron"], r["timesteps"]) for r in report["results"]] == [("ilif", 4), ("if", 4),
                                                                                          ("if", 40)]  # fmt: skip
    assert report["skipped"] == [{"neuron": "ilif", "timesteps": 40,
                                  "reason": "ilif runs with at most 31 steps (its bits fit an int32)"}]  # fmt: skip
    assert report["ann"]["speed"]["images_per_s"] > 0
    code, table, _ = cli(capsys, "eval", model_path, "--data", data, "--calib", data, "--neuron", "ilif",
                         "-T", "4,40", "-q")  # fmt: skip
    assert code == 0 and "skipped ilif T=40: ilif runs with at most 31 steps" in table
    code, _, err = cli(capsys, "eval", model_path, "--data", data, "--neuron", "if", "-T", "4", "-q")
    assert code == errors.USAGE and "no calibration data" in err  # a .npz of test data calibrates nothing


def test_eval_compiles_settings_fitted_to_t_for_each_t(capsys, model_path, data):
    """IF's thresholds and biases are fitted to T: its T = 4 row is what `-T 4` alone gives,
    not the T = 16 network run for 4 steps."""

    def rows(steps: str) -> dict:
        code, stdout, _ = cli(capsys, "eval", model_path, "--data", data, "--calib", data, "--neuron", "if",
                              "-T", steps, "--json", "-q")  # fmt: skip
        assert code == 0
        return {r["timesteps"]: r for r in json.loads(stdout)["results"]}

    together, alone, at_16 = rows("4,16"), rows("4"), rows("16")
    for key in ("accuracy", "spikes_per_image", "sops_per_image"):
        assert together[4][key] == alone[4][key] and together[16][key] == at_16[16][key]


def test_print_ir_after(capsys, tmp_path, model_path, data):
    code, stdout, _ = cli(
        capsys, "compile", model_path, "--calib", data, "-o", tmp_path / "t.snnc", "--print-ir-after", "lower-pooling"
    )
    assert code == 0 and "// IR after lower-pooling" in stdout and "max-pool(%conv1)" in stdout


def test_eval_json_and_plot(capsys, tmp_path, model_path, data):
    plot = tmp_path / "acc.png"
    code, stdout, _ = cli(
        capsys, "eval", model_path, "--data", data, "--calib", data, "--neuron", "ilif,if", "-T", "4,16",
        "--json", "--plot", plot,
    )  # fmt: skip
    report = json.loads(stdout)
    assert code == 0 and 0 <= report["ann"]["accuracy"] <= 1
    assert [(r["neuron"], r["timesteps"]) for r in report["results"]] == [
        ("ilif", 4),
        ("ilif", 16),
        ("if", 4),
        ("if", 16),
    ]
    ilif16 = report["results"][1]
    assert ilif16["agreement"] >= 0.9 and ilif16["mean_latency_steps"] == 2 * 16 and ilif16["mean_steps_used"] == 16
    assert report["skipped"] == [] and ilif16["speed"]["images"] == report["images"] > 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- bad input -----------------------------------------------------------------------------
def write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    "arrays,message",
    [
        ({"x": np.zeros((4, 1, 9, 9), np.float32)}, "must have shape f32\\[N,1,8,8\\]"),
        ({"x": np.full((4, 1, 8, 8), np.nan, np.float32)}, "NaN"),
        ({"x": np.zeros((4, 1, 8, 8), bool)}, "numeric"),
        ({"a": np.zeros(3), "b": np.zeros(3)}, "array named 'x'"),
    ],
)
def test_bad_calibration_data(capsys, tmp_path, model_path, arrays, message):
    calib = write_npz(tmp_path / "c.npz", **arrays)
    code, _, err = cli(capsys, "compile", model_path, "--calib", calib, "-o", tmp_path / "t.snnc")
    assert code == errors.BAD_DATA and "Traceback" not in err
    assert __import__("re").search(message, err), err


def test_activation_without_spiking_form(capsys, tmp_path):
    path = tmp_path / "sig.onnx"
    onnx.save(tiny_cnn("Sigmoid"), path)
    code, _, err = cli(capsys, "compile", path, "-o", tmp_path / "t.snnc", "--data-free")
    assert code == errors.NOT_CONVERTIBLE and "'act1' (sigmoid) has no spiking form" in err


def test_nan_weights(capsys, tmp_path):
    model = tiny_cnn()
    for init in model.graph.initializer:
        if init.name == "w2":
            array = onnx.numpy_helper.to_array(init).copy()
            array[0, 0] = np.inf
            init.CopyFrom(onnx.numpy_helper.from_array(array, "w2"))
    path = tmp_path / "inf.onnx"
    onnx.save(model, path)
    code, _, err = cli(capsys, "compile", path, "-o", tmp_path / "t.snnc", "--data-free")
    assert code == errors.INVALID_MODEL and "'fc' (gemm): weight holds NaN or infinite" in err


def test_unknown_pass(capsys, tmp_path, model_path):
    code, _, err = cli(capsys, "compile", model_path, "--passes", "canonicalize,frobnicate", "-o", tmp_path / "t.snnc",
                       "--data-free")  # fmt: skip
    assert code == errors.USAGE and "frobnicate" in err


def test_run_on_input_of_the_wrong_shape(capsys, tmp_path, model_path):
    cli(capsys, "compile", model_path, "-o", tmp_path / "t.snnc", "-q", "--data-free")
    bad = write_npz(tmp_path / "bad.npz", x=np.zeros((2, 3, 8, 8), np.float32))
    code, _, err = cli(capsys, "run", tmp_path / "t.snnc", "--input", bad)
    assert code == errors.BAD_DATA and "must have shape" in err


def test_no_calibration_data_is_an_error_that_says_how_to_give_some(capsys, tmp_path, model_path):
    """Without data a network converts to chance level: no silent fallback, but an explicit
    --data-free, which the report then names instead of threshold settings it did not use."""
    code, out, err = cli(capsys, "compile", model_path, "-o", tmp_path / "t.snnc")
    assert code == errors.USAGE and out == "" and not (tmp_path / "t.snnc").exists()
    assert err.startswith("snnc: error: no calibration data") and "--calib FILE.npz" in err and "--data-free" in err
    assert len(err.strip().splitlines()) == 1
    code, _, err = cli(capsys, "compile", model_path, "-o", tmp_path / "t.snnc", "--data-free", "--calib", "x.npz")
    assert code == errors.USAGE and "give one of them" in err
    code, out, err = cli(capsys, "compile", model_path, "-o", tmp_path / "t.snnc", "--data-free", "--json")
    settings = json.loads(out)["settings"]
    assert code == 0 and err == "" and settings["thresholds"] == "data-free (weight bounds)"
    assert "percentile" not in settings and "per_channel" not in settings
    with pytest.raises(errors.UsageError, match="no calibration data"):
        snnc.compile(model_path)


def test_corrupted_and_foreign_artifacts(capsys, tmp_path, model_path):
    path = tmp_path / "t.snnc"
    cli(capsys, "compile", model_path, "-o", path, "-q", "--data-free")
    data = path.read_bytes()
    (tmp_path / "cut.snnc").write_bytes(data[: len(data) // 2])
    code, _, err = cli(capsys, "run", tmp_path / "cut.snnc", "--input", "x.npz")
    assert code == errors.BAD_FILE and "corrupted" in err
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        ir = archive.read("graph.ir")
    manifest["version"] = 99
    with zipfile.ZipFile(tmp_path / "new.snnc", "w") as archive:
        archive.writestr("manifest.json", json.dumps(manifest))
        archive.writestr("graph.ir", ir)
    code, _, err = cli(capsys, "run", tmp_path / "new.snnc", "--input", "x.npz")
    assert code == errors.BAD_FILE and "version 99" in err


def test_eval_needs_labels(capsys, tmp_path, model_path):
    data = write_npz(tmp_path / "nolabels.npz", x=np.zeros((4, 1, 8, 8), np.float32))
    code, _, err = cli(capsys, "eval", model_path, "--data", data, "-T", "4")
    assert code == errors.BAD_DATA and "labels" in err


def test_missing_dataset_says_how_to_install(capsys, model_path, monkeypatch):
    monkeypatch.setattr("snnc.datasets.FASHION_MNIST_DIRS", ("/nonexistent",))
    code, _, err = cli(capsys, "eval", model_path, "--data", "fashion-mnist", "-T", "4")
    assert code == errors.BAD_DATA and "apt-get install dataset-fashion-mnist" in err
