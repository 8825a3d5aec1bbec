"""`snnc MODEL -t accel`, `snnc check` and `snnc sim` on the bundled ResNet fixture: the files
they write, the figures they report, and a documented exit code for each kind of failure."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from snnc.runtime.fixed import simulate_fixed

from snnc import errors
from tests.e2e.test_cli import run_cli
from tests.e2e.test_fixtures import EXAMPLES

MODEL = EXAMPLES / "fmnist_resnet.onnx"
CALIB = EXAMPLES / "fmnist_calib.npz"


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    from snnc.cli import main

    folder = tmp_path_factory.mktemp("accel")
    assert main([str(MODEL), "-t", "accel", "-T", "4", "--calib", str(CALIB), "-o", str(folder / "r.snnc"), "-q"]) == 0
    test = np.load(EXAMPLES / "fmnist_test.npz")
    np.savez(folder / "few.npz", x=test["x"][:12], y=test["y"][:12])
    return folder


def test_compile_writes_artifact_and_program(compiled):
    assert (compiled / "r.snnc").is_file() and (compiled / "r.snnx").read_bytes()[:4] == b"SNNX"


def test_sim_reports_accuracy_cycles_and_energy(compiled, capsys):
    code, out, _ = run_cli(capsys, "sim", compiled / "r.snnx", "--input", compiled / "few.npz", "--json")
    assert code == errors.OK
    report = json.loads(out)
    assert report["images"] == 12 and 0 <= report["accuracy"] <= 1
    assert report["cycles"] > 0 and report["energy_uj"] > 0 and report["ann_energy_uj"] > 0
    assert report["cycles_unpipelined"] >= report["cycles"]
    import snnc

    program = snnc.load(compiled / "r.snnc")  # the artifact runs the same program: same predictions
    fixed = simulate_fixed(program.accel().qnet, np.load(compiled / "few.npz")["x"])
    assert report["predictions"] == fixed.logits.argmax(1).tolist()
    plot = compiled / "sim.png"
    code, out, _ = run_cli(capsys, "sim", compiled / "r.snnx", "--input", compiled / "few.npz", "--plot", plot)
    assert code == errors.OK and "cycles per image" in out and "SNN/ANN" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_check_fits_and_lists_layers(capsys):
    code, out, _ = run_cli(capsys, "check", MODEL, "-t", "accel", "-T", "4", "--calib", CALIB, "--json")
    report = json.loads(out)
    assert code == errors.OK and report["fits"] and report["cores"] <= report["chip_cores"]
    assert all(r["weight_bytes"] <= r["weight_capacity"] and r["state_words"] <= r["state_capacity"]
               for r in report["layers"])  # fmt: skip


def test_check_on_a_chip_smaller_than_the_network(tmp_path, capsys):
    """Segments through DRAM where the layers need more cores than the chip has, down to one
    core; exit 8 only where one output channel does not fit a core."""
    chip = tmp_path / "tiny.toml"
    chip.write_text("[chip]\ncores_x = 2\ncores_y = 2\n")
    code, out, _ = run_cli(capsys, "check", MODEL, "-t", "accel", "--config", chip, "--data-free", "--json", "-q")
    report = json.loads(out)
    segments = report["plan"]["segments"]
    assert code == errors.OK and report["fits"] and len(segments) > 1 and all(s["cores"] <= 4 for s in segments)
    assert report["plan"]["off_chip_bytes_per_image"]["event_bytes_written"] > 0
    code, out, _ = run_cli(capsys, "check", MODEL, "-t", "accel", "--config", chip, "--data-free")
    assert code == errors.OK and f"in {len(segments)} segment(s)" in out and "off-chip per image" in out
    chip.write_text("[chip]\ncores_x = 1\ncores_y = 1\nweight_sram_kib = 8\n")
    code, out, _ = run_cli(capsys, "check", MODEL, "-t", "accel", "--config", chip, "--data-free", "--json", "-q")
    report = json.loads(out)
    assert code == errors.OK and len(report["plan"]["segments"]) == report["cores"]  # a slice per segment
    chip.write_text("[chip]\ncores_x = 1\ncores_y = 1\nstate_sram_kib = 1\n")  # MSAT maps are not banded
    code, _, err = run_cli(capsys, "check", MODEL, "-t", "accel", "--neuron", "msat", "--config", chip, "-q",
                           "--data-free")  # fmt: skip
    assert code == errors.DOES_NOT_FIT and re.search(r"state SRAM: one output channel needs \d+ words", err)
    assert "Traceback" not in err


def test_check_that_does_not_fit_says_what_each_layer_asks(tmp_path, capsys):
    """Every layer's demand, for people and in --json: the cores of those that fit a core one
    channel at a time; the layer that does not, named, with one channel against the capacity."""
    chip = tmp_path / "small.toml"
    chip.write_text("[chip]\ncores_x = 2\ncores_y = 2\nstate_sram_kib = 4\n")
    options = ("-t", "accel", "-T", "4", "--neuron", "msat", "--config", chip, "--data-free")  # MSAT: not banded
    code, out, err = run_cli(capsys, "check", MODEL, *options, "--json", "-q")
    report = json.loads(out)
    demand = report["demand"]
    too_big = [r for r in demand if r["cores"] is None]
    assert code == errors.DOES_NOT_FIT and too_big and len(demand) == len(report["demand"])
    assert all(r["one_channel_state_words"] > r["state_capacity"] for r in too_big)
    assert all(r["one_channel_state_words"] <= r["state_capacity"] for r in demand if r["cores"] is not None)
    assert too_big[0]["layer"] in report["error"] and "one output channel" in report["error"]
    code, out, err = run_cli(capsys, "check", MODEL, *options)
    assert code == errors.DOES_NOT_FIT and all(r["layer"] in out for r in demand) and "does not fit" in out
    assert [line for line in err.splitlines() if "error" in line] == [f"snnc: error: {report['error']}"]


@pytest.mark.parametrize("text, code", [("[chip]\nlanez = 4\n", errors.USAGE), ("[chip]\nlanes = -1\n", errors.USAGE)])
def test_bad_configuration_exit_codes(tmp_path, capsys, text, code):
    chip = tmp_path / "bad.toml"
    chip.write_text(text)
    got, _, err = run_cli(capsys, "check", MODEL, "-t", "accel", "--config", chip, "--data-free", "-q")
    assert got == code and "chip configuration" in err


def test_sim_refuses_damaged_and_foreign_programs(compiled, tmp_path, capsys):
    data = (compiled / "r.snnx").read_bytes()
    (tmp_path / "cut.snnx").write_bytes(data[: len(data) // 2])
    (tmp_path / "flip.snnx").write_bytes(data[:64] + bytes([data[64] ^ 1]) + data[65:])
    for name, message in (("cut.snnx", "truncated"), ("flip.snnx", "checksum"), ("none.snnx", "no such file")):
        code, _, err = run_cli(capsys, "sim", tmp_path / name, "--input", compiled / "few.npz")
        assert code == errors.BAD_FILE and message in err
    code, _, err = run_cli(capsys, "sim", compiled / "r.snnx", "--input", compiled / "few.npz", "--batch", "0")
    assert code == errors.USAGE and "--batch" in err
    chip = tmp_path / "other.toml"
    chip.write_text("[chip]\nlanes = 8\n")
    code, _, err = run_cli(capsys, "sim", compiled / "r.snnx", "--input", compiled / "few.npz", "--config", chip)
    assert code == errors.BAD_FILE and "built for chip configuration" in err


def test_eval_on_the_accel_target_reports_the_chip(compiled, capsys):
    code, out, _ = run_cli(capsys, "eval", MODEL, "--data", compiled / "few.npz", "--calib", CALIB, "-t", "accel",
                           "--neuron", "ilif", "-T", "4", "--json", "-q")  # fmt: skip
    row = json.loads(out)["results"][0]
    assert code == errors.OK and row["accel"]["cycles"] > 0 and row["accel"]["snn_ann_energy_ratio"] > 0


def test_check_is_for_the_accel_target(capsys):
    with pytest.raises(SystemExit) as done:  # the parser's own usage error (exit 2)
        run_cli(capsys, "check", MODEL, "-t", "cpu", "--data-free", "-q")
    err = capsys.readouterr().err
    assert done.value.code == errors.USAGE and "choose from 'accel'" in err and "Traceback" not in err


def _keys(table) -> set[str]:
    """Every key of a nested JSON table."""
    if isinstance(table, dict):
        return set(table) | {key for value in table.values() for key in _keys(value)}
    if isinstance(table, list):
        return {key for value in table for key in _keys(value)}
    return set()


def test_run_names_the_chip_energy_and_the_45nm_estimate_apart(compiled, capsys):
    """An accel program's report has both figures, each under its own name: the chip model's
    energy_uj and the operation-count estimate, which is SOPs × 0.9 pJ + analog MACs × 4.6 pJ."""
    code, out, _ = run_cli(capsys, "run", compiled / "r.snnc", "--input", compiled / "few.npz", "--json", "-q")
    report = json.loads(out)
    assert code == errors.OK and report["accel"]["energy_uj"] > 0
    activity = report["activity"]
    estimate = activity["ops_energy_45nm_pj_per_image"]
    assert estimate["snn"] == pytest.approx(0.9 * activity["sops_per_image"] + 4.6 * activity["analog_macs_per_image"])
    assert not {key for key in _keys(report) if "energy" in key} - {
        "energy_uj", "ann_energy_uj", "snn_ann_energy_ratio", "energy_breakdown_uj", "ann_breakdown_uj",
        "ops_energy_45nm_pj_per_image", "ops_energy_model"}  # fmt: skip
    code, out, _ = run_cli(capsys, "run", compiled / "r.snnc", "--input", compiled / "few.npz")
    assert "45 nm operation-count estimate" in out and "chip energy" in out
