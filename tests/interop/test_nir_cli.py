"""`snnc MODEL -t nir` writes a NIR file that reads back and compiles again; a .nir given to
`snnc compile` reaches -t cpu and -t accel; bad requests get one line and a documented code."""

from __future__ import annotations

import json

import nir
import numpy as np
from snnc.targets.nir.flavors import nir_conversion

import snnc
from snnc import errors
from snnc.cli import main

CALIB = "examples/fmnist_calib.npz"


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_export_then_import_from_the_command_line(tmp_path, capsys):
    exported = tmp_path / "resnet.nir"
    code, out, err = run_cli(capsys, "examples/fmnist_resnet.onnx", "-t", "nir", "--nir-flavor", "spikingjelly",
                             "--calib", CALIB, "-T", "8", "-o", exported)  # fmt: skip
    assert code == errors.OK, err
    assert "[nir] reset zero" in out and "every v_threshold is 1" in out and f"wrote {exported}" in out
    graph = nir.read(exported)
    assert graph.metadata["timesteps"] == 8 and graph.metadata["flavor"] == "spikingjelly"
    assert sum(type(node).__name__ == "IF" for node in graph.nodes.values()) == 13
    code, out, err = run_cli(capsys, "inspect", exported)
    assert code == errors.OK and out.count(" neuron ") == 13, err
    artifact = tmp_path / "resnet.snnc"
    code, out, err = run_cli(capsys, "compile", exported, "-T", "8", "-o", artifact, "--json")
    assert code == errors.OK, err
    report = json.loads(out)
    assert report["settings"]["reset"] == "zero" and report["artifact"] == str(artifact)
    code, out, err = run_cli(capsys, "run", artifact, "--data", "examples/fmnist_test.npz", "--limit", "64",
                             "--output", tmp_path / "out.npz", "-q")  # fmt: skip
    assert code == errors.OK, err
    x = np.load("examples/fmnist_test.npz")["x"][:64]
    calibration = np.load(CALIB)["x"]
    direct = snnc.compile("examples/fmnist_resnet.onnx", calibration=calibration, timesteps=8,
                          **nir_conversion("spikingjelly"))  # fmt: skip
    expected = direct.run(x, engine="reference").logits.argmax(1)
    assert (np.load(tmp_path / "out.npz")["predictions"] == expected).mean() >= 0.95
    code, out, err = run_cli(capsys, exported, "-t", "accel", "-T", "8", "-o", tmp_path / "acc.snnc", "-q")
    assert code == errors.OK, err
    assert (tmp_path / "acc.snnx").is_file()


def test_what_nir_cannot_say_exits_5_with_one_line(tmp_path, capsys):
    code, out, err = run_cli(capsys, "examples/fmnist_resnet.onnx", "-t", "nir", "--neuron", "ilif", "--calib",
                             CALIB, "-o", tmp_path / "x.nir", "-q")  # fmt: skip
    assert code == errors.UNSUPPORTED and err.count("\n") == 1 and "NIR (v1.0) has no ilif neuron" in err
    assert not (tmp_path / "x.nir").exists()
    code, _, err = run_cli(capsys, "examples/fmnist_resnet.onnx", "-t", "nir", "--adaptive", "--calib", CALIB)
    assert code == errors.USAGE and "no early exits" in err
    code, _, err = run_cli(capsys, "examples/fmnist_resnet.onnx", "--nir-flavor", "sinabs", "--calib", CALIB)
    assert code == errors.USAGE and "give it with -t nir" in err


def test_a_broken_nir_file_exits_4_and_settings_it_cannot_take_exit_2(tmp_path, capsys):
    import h5py

    broken = tmp_path / "broken.nir"
    with h5py.File(broken, "w") as file:
        file["node/type"] = "NIRGraph"
    code, _, err = run_cli(capsys, broken, "-o", tmp_path / "b.snnc")
    assert code == errors.INVALID_MODEL and "not a valid NIR graph" in err and err.count("\n") == 1
    exported = tmp_path / "vgg.nir"
    assert run_cli(capsys, "examples/fmnist_vgg.onnx", "-t", "nir", "--calib", CALIB, "-T", "4", "-o", exported,
                   "-q")[0] == errors.OK  # fmt: skip
    code, _, err = run_cli(capsys, exported, "--neuron", "msat", "-o", tmp_path / "v.snnc")
    assert code == errors.USAGE and "spiking already" in err
