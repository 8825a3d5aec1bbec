"""cpu programs: object code in artifacts and in the cache, the fixtures against the reference,
recording through the CLI, and bad input."""

from __future__ import annotations

import ast
import importlib
import json
import os
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest
from snnc.runtime.snn import simulate
from snnc.targets.cpu import llvm as native
from snnc.targets.cpu.llvm import ObjectCache
from snnc.targets.cpu.runner import CompiledNetwork

import snnc
from snnc.cli import main
from snnc.errors import BAD_DATA, UNSUPPORTED, USAGE, DataError, FileError, UnsupportedError
from snnc.ir.ops_snn import Neuron
from snnc.ir.ops_tensor import Pad, Sigmoid

from .test_jit_vs_reference import CASES, assert_agrees, compare, network, neuron_layers

EXAMPLES = Path(__file__).parents[3] / "examples"


@pytest.fixture(scope="module")
def calibration() -> np.ndarray:
    return np.load(EXAMPLES / "fmnist_calib.npz")["x"][:256]


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.load(EXAMPLES / "fmnist_test.npz")["x"][:24]


@pytest.mark.parametrize("model, neuron, steps", [("fmnist_vgg", "ilif", 8), ("fmnist_resnet", "if", 16)])
def test_fixtures_match_the_reference(model, neuron, steps, calibration, images):
    program = snnc.compile(EXAMPLES / f"{model}.onnx", neuron=neuron, timesteps=steps, calibration=calibration)
    layers = neuron_layers(program.graph)
    expected = program.run(images, engine="reference", record=layers)
    actual = program.run(images, record=layers)
    assert_agrees(expected, actual, layers)
    np.testing.assert_array_equal(actual.logits.argmax(1), expected.logits.argmax(1))
    assert abs(sum(actual.sops.values()) / sum(expected.sops.values()) - 1) < 1e-4


def small_program(neuron="if", steps=8):
    x = np.random.default_rng(0).uniform(0, 1, (16, 3, 9, 9)).astype(np.float32)
    return snnc.compile(network(CASES["conv-3x3"]), neuron=neuron, timesteps=steps, calibration=x), x


def test_artifact_carries_object_code_and_reuses_it(tmp_path, monkeypatch):
    program, x = small_program()
    path = program.save(tmp_path / "p.snnc")
    assert "native.o" in zipfile.ZipFile(path).namelist()
    loaded = snnc.load(path)
    monkeypatch.setattr(native, "compile_ir", lambda text: pytest.fail("recompiled although the code fits"))
    np.testing.assert_array_equal(loaded.run(x).logits, program.run(x).logits)


def test_artifact_from_another_cpu_recompiles(tmp_path):
    program, x = small_program()
    path = program.save(tmp_path / "p.snnc")
    rewritten = tmp_path / "other.snnc"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(rewritten, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name == "manifest.json":
                manifest = json.loads(data)
                manifest["native"]["fingerprint"] = "another cpu"
                data = json.dumps(manifest).encode()
            if name == "native.o":
                data = b"not object code"
            target.writestr(name, data)
    loaded = snnc.load(rewritten)
    np.testing.assert_array_equal(loaded.run(x).logits, program.run(x).logits)


def test_corrupted_artifact_is_a_file_error(tmp_path):
    program, _ = small_program()
    data = bytearray(program.save(tmp_path / "p.snnc").read_bytes())
    position = data.index(b"native.o") + 200  # inside the stored object code
    data[position : position + 64] = bytes(64)
    (tmp_path / "bad.snnc").write_bytes(bytes(data))
    with pytest.raises(FileError):
        snnc.load(tmp_path / "bad.snnc")


def test_second_compile_comes_from_the_cache(tmp_path):
    program, x = small_program()
    cache = ObjectCache(tmp_path / "cache")
    first = CompiledNetwork(program.graph, cache)
    second = CompiledNetwork(program.graph, cache)
    assert not first.native.cached and second.native.cached
    assert len(list((tmp_path / "cache").glob("*.o"))) == 1
    np.testing.assert_array_equal(first.run(x, 8).logits, second.run(x, 8).logits)


def _cpu_modules_imported_by(module) -> set[str]:
    """The snnc.targets.cpu modules that `module`'s source imports."""
    names = set()
    for node in ast.walk(ast.parse(Path(module.__file__).read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "snnc.targets.cpu":
            names |= {f"snnc.targets.cpu.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("snnc.targets.cpu."):
            names.add(node.module)
    return names


@pytest.mark.parametrize("runner", ["runner"])
def test_cache_keys_hash_every_module_the_code_generator_uses(runner):
    """A change to any module that builds the IR must change the cache key (else a cache
    would serve object code from the code before)."""
    generator = importlib.import_module(f"snnc.targets.cpu.{runner}").GENERATOR_MODULES
    hashed = {module.__name__ for module in generator}
    reached, frontier = set(), set(hashed)
    while frontier:
        name = frontier.pop()
        reached.add(name)
        frontier |= _cpu_modules_imported_by(importlib.import_module(name)) - reached
    plan_side = {
        "snnc.targets.cpu.layout",
        "snnc.targets.cpu.plan",
        "snnc.targets.cpu.reuse",
    }  # their output is the plan's structure
    assert reached - plan_side <= hashed


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only directories")
def test_read_only_cache_warns_and_compiles_in_memory(tmp_path):
    program, x = small_program()
    directory = tmp_path / "ro"
    directory.mkdir()
    directory.chmod(stat.S_IRUSR | stat.S_IXUSR)
    with pytest.warns(UserWarning, match="object cache"):
        net = CompiledNetwork(program.graph, ObjectCache(directory))
    assert net.run(x, 8).logits.shape == (16, 5)


def test_unwritable_cache_warns_and_compiles_in_memory(tmp_path):
    program, x = small_program()
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory should be")
    with pytest.warns(UserWarning, match="object cache"):
        net = CompiledNetwork(program.graph, ObjectCache(blocker / "cache"))
    np.testing.assert_array_equal(net.run(x, 8).logits, CompiledNetwork(program.graph, None).run(x, 8).logits)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda p: p.run(np.zeros((2, 3, 8, 8), np.float32)), "shape"),
        (lambda p: p.run(np.zeros((2, 3, 9, 9), np.float32), threads=0), "threads"),
        (lambda p: p.run(np.zeros((2, 3, 9, 9), np.float32), record=["nope"]), "cannot record"),
        (lambda p: p.run(np.zeros((2, 3, 9, 9), np.float32), timesteps=40), "at most 31"),
    ],
)
def test_bad_runs_are_clear_errors(call, message):
    program, _ = small_program(neuron="ilif")
    with pytest.raises(DataError, match=message):
        call(program)


def test_cli_records_spike_trains(tmp_path, capsys):
    program, x = small_program()
    artifact = program.save(tmp_path / "p.snnc")
    np.savez(tmp_path / "x.npz", x=x)
    layer = neuron_layers(program.graph)[0]
    out = tmp_path / "out.npz"
    code = main(["run", str(artifact), "--input", str(tmp_path / "x.npz"), "--record", layer, "--threads", "2",
                 "--output", str(out), "-q"])  # fmt: skip
    assert code == 0
    trains = np.load(out)[f"spikes/{layer}"]
    expected = simulate(program.graph, x, 8, record=[layer]).records[layer]
    assert trains.shape == (16, 8, *program.graph.type(layer).sample_shape)
    assert (trains != expected).mean() < 1e-3
    assert main(["run", str(artifact), "--input", str(tmp_path / "x.npz"), "--record", "nope", "-q"]) == BAD_DATA
    capsys.readouterr()


def test_eval_on_the_reference_and_the_cpu_agree(capsys):
    accuracy = {}
    for target in ("reference", "cpu"):
        code = main(["eval", str(EXAMPLES / "fmnist_vgg.onnx"), "--data", str(EXAMPLES / "fmnist_test.npz"),
                     "--calib", str(EXAMPLES / "fmnist_calib.npz"), "--limit", "16", "--neuron", "ilif", "-T", "4",
                     "--target", target, "--json", "-q"])  # fmt: skip
        assert code == 0
        report = json.loads(capsys.readouterr().out)
        assert report["target"] == target
        accuracy[target] = report["results"][0]["accuracy"]
    assert abs(accuracy["reference"] - accuracy["cpu"]) <= 1 / 16  # at most one rounding flip


@pytest.mark.parametrize("neuron", ["if", "msat"])
def test_recalibrated_thresholds_reuse_the_object_code(tmp_path, neuron):
    """Thresholds are run-time values (MSAT's per-layer θ_max too): new ones, the same code."""
    program, x = small_program(neuron)
    cache = ObjectCache(tmp_path)
    before = CompiledNetwork(program.graph, cache)
    changed = program.graph.copy()
    for node in changed.nodes():
        if isinstance(node.op, Neuron):
            node.op.threshold = node.op.threshold * np.float32(1.3)
    after = CompiledNetwork(changed, cache)
    assert after.native.cached and after.native.structure_hash == before.native.structure_hash
    assert_agrees(*compare(changed, x[:6], 8))


def test_cache_key_changes_with_what_the_code_depends_on(tmp_path):
    program, x = small_program()
    cache = ObjectCache(tmp_path)
    before = CompiledNetwork(program.graph, cache)
    changed = program.graph.copy()
    for node in changed.nodes():
        if isinstance(node.op, Neuron):
            node.op.v_init = 0.25  # compiled into the code as a constant
    after = CompiledNetwork(changed, cache)
    assert not after.native.cached and after.native.structure_hash != before.native.structure_hash
    np.testing.assert_allclose(after.run(x, 8).logits, simulate(changed, x, 8).logits, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "op, message",
    [(Pad((0, 0), value=1.0), "only zero padding"), (Sigmoid(), "node 'inserted': op sigmoid has no cpu kernel")],
)
def test_what_the_cpu_target_cannot_run_is_a_clear_unsupported_error(op, message):
    program, _ = small_program()
    graph = program.graph.copy()
    readout = graph.outputs[0]
    graph.set_input(readout, 0, graph.add(op, graph.inputs_of(readout), "inserted"))
    with pytest.raises(UnsupportedError, match=message) as error:
        CompiledNetwork(graph, None)
    assert error.value.exit_code == UNSUPPORTED


def test_ilif_beyond_the_cpu_step_limit_fails_at_compile(capsys):
    code = main([str(EXAMPLES / "fmnist_resnet.onnx"), "-t", "cpu", "-T", "40", "-q", "--data-free"])
    assert code == USAGE
    assert "at most 31 steps" in capsys.readouterr().err
