"""The accelerator simulator executes the instruction streams bit-exactly with the fixed-point
reference, image for image: logits, exit steps, spike, SOP and MAC counts; its cost model
behaves as documented."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from snnc.runtime.fixed import simulate_fixed
from snnc.targets.accel import binary
from snnc.targets.accel.config import DEFAULT, ChipConfig
from snnc.targets.accel.emit import emit
from snnc.targets.accel.mapper import place
from snnc.targets.accel.simulator import simulate_accel

from snnc.errors import FileError, ResourceError, UnsupportedError
from tests.targets.accel.conftest import FAMILIES, compile_accel, conv, dense_graph, family_graph, relu


def small_chip(**fields) -> ChipConfig:
    """Small SRAMs so that the test networks split across cores."""
    return ChipConfig(**{"cores_x": 8, "cores_y": 8, "weight_sram_kib": 1, "state_sram_kib": 4, **fields})


def assert_same_run(qnet, program, x):
    fixed = simulate_fixed(qnet, x)
    decoded = binary.decode_program(binary.encode_program(program))
    accel = simulate_accel(decoded, x)
    np.testing.assert_array_equal(accel.logits, fixed.logits)
    np.testing.assert_array_equal(accel.steps, fixed.steps)
    assert accel.spikes == fixed.spikes
    assert accel.sops == fixed.sops
    assert accel.macs == fixed.macs
    return fixed, accel


@pytest.mark.parametrize("neuron, steps", [("ilif", 5), ("if", 12), ("msat", 12)])
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_simulator_matches_fixed_point_reference(family, neuron, steps, family_data):
    program = compile_accel(family_graph(FAMILIES[family]), neuron, steps, family_data, chip=small_chip())
    build = program.accel()
    assert len(build.slices) > len(build.qnet.layers) or family == "global_pool"  # layers were split
    fixed, accel = assert_same_run(build.qnet, build.program, family_data)
    assert sum(fixed.sops.values()) > 0


@pytest.mark.parametrize("msat", [dict(burst=3), dict(confidence_steps=4, seed=5), dict(preset="resnet")])
def test_msat_variants_match(msat, family_data):
    build = compile_accel(family_graph(FAMILIES["avg_pool"]), "msat", 10, family_data, msat=msat).accel()
    program = build.program
    if "seed" in msat:  # spike confidence: the last spiking layer drops 40 % of its first 4 steps' spikes
        last = [layer for layer in build.qnet.layers if layer.msat][-1]
        before = simulate_fixed(build.qnet, family_data).spikes[last.name]
        last.msat["confidence"] = 0.6
        program = emit(build.qnet, build.slices, build.config)
        assert simulate_fixed(build.qnet, family_data).spikes[last.name] < before
    fixed, accel = assert_same_run(build.qnet, program, family_data)
    if msat.get("burst", 1) > 1:  # bursts: more spikes than spiking steps somewhere
        assert any(layer.msat["burst"] == 3 for layer in build.qnet.layers if layer.msat)
    assert accel.hardware.energy["threshold_units"].sum() > 0


@pytest.mark.parametrize("neuron, steps, metric", [("ilif", 6, "max-softmax"), ("if", 16, "max-softmax"),
                                                   ("msat", 16, "max-softmax"), ("if", 16, "sum-softmax")])  # fmt: skip
def test_adaptive_exits_match_and_save_cycles(neuron, steps, metric, family_data):
    program = compile_accel(family_graph(FAMILIES["avg_pool"]), neuron, steps, family_data)
    build = program.accel()
    _, full = assert_same_run(build.qnet, build.program, family_data)
    qnet = dataclasses.replace(build.qnet, exit_metric=metric, exit_threshold=0.5)
    _, early = assert_same_run(qnet, emit(qnet, build.slices, build.config), family_data)
    assert early.steps.mean() < full.steps.mean()
    assert early.hardware.cycles.mean() < full.hardware.cycles.mean()
    assert sum(early.hardware.energy[k].mean() for k in early.hardware.energy) < sum(
        full.hardware.energy[k].mean() for k in full.hardware.energy
    )


def test_dense_network_runs_on_the_chip():
    x = np.random.default_rng(2).uniform(-1, 1, (16, 12)).astype(np.float32)
    for neuron, steps in (("ilif", 8), ("if", 20)):
        build = compile_accel(dense_graph(), neuron, steps, x).accel()
        assert_same_run(build.qnet, build.program, x)


def test_cost_model_identities(family_data):
    build = compile_accel(family_graph(FAMILIES["residual"]), "if", 10, family_data).accel()
    result = simulate_accel(build.program, family_data)
    hw = result.hardware
    sops = sum(result.sops.values())
    assert hw.energy["synaptic_adds"].sum() == pytest.approx(sops * DEFAULT.energy.pj_add32)
    assert np.all(hw.cycles <= hw.cycles_sequential)  # pipelining never makes a sample slower
    assert np.all(hw.interval <= hw.cycles)  # a streaming image starts before the previous ends
    wide = dataclasses.replace(DEFAULT, lanes=64)
    wide_build = emit(build.qnet, place(build.qnet, wide), wide)
    assert simulate_accel(wide_build, family_data).hardware.cycles.mean() < hw.cycles.mean()
    summary = hw.summary()
    assert summary["snn_ann_energy_ratio"] > 0 and summary["images"] == len(family_data)


def test_program_for_another_chip_is_refused(family_data):
    build = compile_accel(family_graph(FAMILIES["plain"]), "if", 4, family_data).accel()
    with pytest.raises(FileError, match="built for chip configuration"):
        simulate_accel(build.program, family_data, dataclasses.replace(DEFAULT, lanes=8))


@pytest.mark.parametrize("chip, resource", [(dict(state_bits=16), "state word")])  # (cores: segments; test_segments.py)
def test_models_that_do_not_fit_name_layer_and_resource(chip, resource, family_data):
    with pytest.raises(ResourceError, match=resource) as error:
        compile_accel(family_graph(FAMILIES["plain"]), "ilif", 8, family_data,
                      chip=dataclasses.replace(DEFAULT, **chip))  # fmt: skip
    assert "layer" in str(error.value) or "cores" in str(error.value)


def big_map_graph(pool: bool = True):
    """16×16 maps (behind a 2×2 pool): one channel of them outgrows a core of 1 KiB state."""
    from snnc.ir import BATCH, Graph, MaxPool, TensorType
    from tests.targets.cpu.test_jit_vs_reference import conv, head

    g = Graph("big-map")
    x = g.add_input("x", TensorType((BATCH, 1, 16, 16)))
    h = relu(g, conv(g, relu(g, conv(g, x, 2)), 3))
    head(g, g.add(MaxPool((2, 2), (2, 2)), [h]) if pool else h)
    return g


@pytest.mark.parametrize("neuron, steps", [("ilif", 5), ("if", 12)])
def test_a_map_larger_than_a_core_runs_in_bands_of_rows(neuron, steps, family_data):
    """Where one channel's map does not fit a core, its rows are cut into bands (whole pool
    windows), a core each; bit-exact with the fixed-point reference and the cpu's."""
    x = np.random.default_rng(3).uniform(0, 1, (16, 1, 16, 16)).astype(np.float32)
    small = dataclasses.replace(DEFAULT, state_sram_kib=1)
    # (rate coding gates the pool on the readout's synapse, whose counters then outgrow the core)
    program = compile_accel(big_map_graph(pool=neuron == "ilif"), neuron, steps, x, chip=small)
    build = program.accel()
    bands = [s for s in build.slices if s.band is not None]
    assert bands and all(s.rows[1] - s.rows[0] == 1 and s.state_words <= small.state_words for s in bands)
    assert all((s.band[1] - s.band[0]) % 2 == 0 for s in bands if qnet_pools(build.qnet, s.layer))
    fixed, _ = assert_same_run(build.qnet, binary.decode_program(binary.encode_program(build.program)), x)
    np.testing.assert_array_equal(program.run(x, engine="native-fixed").logits, fixed.logits)
    damaged = binary.decode_program(binary.encode_program(build.program))
    next(c for c in damaged.meta["cores"] if c["band"] is not None)["band"][1] += 1  # a row two cores hold
    with pytest.raises(FileError, match="the band of core"):
        binary.decode_program(binary.encode_program(damaged))


def qnet_pools(qnet, index: int) -> bool:
    return bool(qnet.layers[index].pool_kernel)


def test_state_sram_overflow_names_the_layer():
    """MSAT layers are not cut into bands (the threshold unit's state is the whole map's)."""
    with pytest.raises(ResourceError, match=r"state SRAM: one output channel needs \d+ words, a core has 256"):
        compile_accel(big_map_graph(), "msat", 4, np.ones((2, 1, 16, 16), np.float32),
                      chip=dataclasses.replace(DEFAULT, state_sram_kib=1))  # fmt: skip


def test_weight_sram_overflow_names_the_layer():
    from snnc.ir import BATCH, Gemm, Graph, TensorType

    g = Graph("wide")
    x = g.add_input("x", TensorType((BATCH, 2048)))
    g.outputs = [g.add(Gemm(np.ones((3, 2048)), np.zeros(3)), [x])]
    with pytest.raises(ResourceError, match=r"readout.*weight SRAM: one output channel needs 2048 bytes"):
        compile_accel(g, "if", 4, np.ones((4, 2048), np.float32), chip=dataclasses.replace(DEFAULT, weight_sram_kib=1))


def padded_average(g, x):
    """An average pool with padding (its divisor would vary at the border): not mapped."""
    from snnc.ir import AvgPool

    return relu(g, conv(g, g.add(AvgPool((3, 3), (1, 1), pads=(1, 1, 1, 1)), [x]), 6))


def test_unmapped_models_are_unsupported(family_data):
    with pytest.raises(UnsupportedError, match="normalized units"):
        compile_accel(family_graph(FAMILIES["plain"]), "msat", 8, family_data, msat=dict(units="absolute"))
    with pytest.raises(UnsupportedError, match="average pooling with padding"):
        compile_accel(family_graph(padded_average), "if", 8, family_data)


def test_an_unmapped_operator_fails_before_calibration(family_data):
    """The accel target's operator check runs before balance-thresholds: a network the chip
    cannot take costs no calibration (a ResNet-50's is tens of CPU-seconds)."""
    from snnc.timing import recording

    with recording() as stages, pytest.raises(UnsupportedError, match="average pooling with padding"):
        compile_accel(family_graph(padded_average), "ilif", 8, family_data)
    assert "substitute-neurons" in stages.table() and "balance-thresholds" not in stages.table()


def test_state_words_count_the_registers_a_layer_uses(family_data):
    """V everywhere; S where the input arrives, I where spikes do: a stem layer fed by the input
    alone holds no slot current (its I would stay zero), so its channel needs 2·P words, not 3·P."""
    import math

    from snnc.targets.accel.mapper import state_words

    qnet = compile_accel(family_graph(FAMILIES["plain"]), "if", 4, family_data).accel().qnet
    for layer in qnet.layers:
        positions, outputs = math.prod(layer.pre_shape[1:]), math.prod(layer.shape[1:])
        sources = {s.source == qnet.input_name for s in layer.synapses}
        registers = 1 + len(sources)  # V, and S and/or I
        assert state_words(qnet, layer, 1, 32) == registers * positions + 3 + math.ceil(outputs / 32)
    assert {s.source for s in qnet.layers[0].synapses} == {qnet.input_name}  # the stem: V and S only


def test_ilif_hidden_layers_take_their_codes_once(family_data):
    """Weights stationary over the T steps: a hidden iLIF layer accumulates once, at its window's
    last slot, a multiply-add per non-zero T-bit code and reached neuron (what the chip's energy
    counts); the readout still per step. Results bit-exact, SOP counts the SNN's own."""
    from snnc.runtime.fixed import fan_out_of

    build = compile_accel(family_graph(FAMILIES["residual"]), "ilif", 5, family_data).accel()
    program = build.program
    for core, code in zip(program.meta["cores"], program.code):
        accumulates = [i for i in code if i.op == "ACC"]
        hidden = program.meta["layers"][core["layer"]]["kind"] == "neuron"
        assert all(i.operand("form") == ("code" if hidden else "events") for i in accumulates)
        assert all(i.count == (1 if hidden else build.qnet.timesteps) for i in accumulates)
    fixed, accel = assert_same_run(build.qnet, program, family_data)
    qnet = build.qnet
    trains = simulate_fixed(qnet, family_data, record=[layer.name for layer in qnet.layers[:-1]]).records
    expected = 0  # brute force: non-zero codes of each spike source × the synapse's fan-out
    for layer in qnet.layers[:-1]:
        for synapse in layer.synapses:
            if synapse.source != qnet.input_name:
                present = (trains[synapse.source] != 0).any(axis=1)  # (B, *shape): some step spiked
                expected += (present * fan_out_of(synapse)[None]).sum()
    hw = accel.hardware
    per_mac = DEFAULT.energy.pj_add32 + DEFAULT.energy.pj_mul8
    np.testing.assert_allclose(hw.energy["code_macs"].sum(), expected * per_mac)
    hidden_sops = sum(v for k, v in fixed.sops.items() if not k.startswith(qnet.layers[-1].name))
    assert expected <= hidden_sops  # a code reaches its neurons once, however many of its bits are set


@pytest.mark.parametrize("neuron, steps", [("ilif", 6), ("if", 24), ("msat", 24)])
def test_one_dimensional_networks_run_as_maps_of_height_one(neuron, steps):
    """Conv1d, a padded MaxPool1d with ceil_mode and a dense head: held as (C, 1, L) on the chip,
    bit-exact with the fixed-point engines, and close to the float SNN of the 1-D graph."""
    from snnc.ir import BATCH, Conv, Gemm, Graph, MaxPool, Reshape, TensorType

    rng = np.random.default_rng(7)
    g = Graph("signal")
    x = g.add_input("x", TensorType((BATCH, 2, 20)))
    h = relu(g, g.add(Conv(rng.standard_normal((6, 2, 3)) * 0.5, rng.standard_normal(6) * 0.1, pads=(1, 1)), [x]))
    h = g.add(MaxPool((3,), (2,), pads=(1, 0), ceil_mode=True), [h])
    h = relu(g, g.add(Conv(rng.standard_normal((8, 6, 3)) * 0.4, rng.standard_normal(8) * 0.1, dilations=(2,)), [h]))
    flat = g.add(Reshape((int(np.prod(g.type(h).sample_shape)),)), [h])
    g.outputs = [g.add(Gemm(rng.standard_normal((4, g.type(flat).shape[1])) * 0.3, np.zeros(4)), [flat])]
    data = rng.uniform(0, 1, (64, 2, 20)).astype(np.float32)
    program = compile_accel(g, neuron, steps, data[:32])
    build = program.accel()
    assert build.qnet.input_shape == (2, 1, 20) and all(len(layer.shape) in (1, 3) for layer in build.qnet.layers)
    fixed, accel = assert_same_run(build.qnet, build.program, data)
    native = program.run(data, engine="native-fixed")
    np.testing.assert_array_equal(native.logits, fixed.logits)
    float_run = program.run(data, engine="reference").logits
    assert (fixed.logits.argmax(1) == float_run.argmax(1)).mean() >= 0.8
