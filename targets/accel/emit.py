"""emit: a placed QNet → the program every core runs (docs/isa.md, "What snnc emits").

Slots. Rate coding is pipelined across layers: the layer of depth d handles step t in slot
t + d − 1, so S = T + D − 1 slots for D stages, and a core's slot window is [d − 1, d − 1 + T).
iLIF follows the schedule pass: stage d accumulates in [(d−1)·T, d·T) and emits in
[d·T, (d+1)·T); the readout's window is the last, so S = D·T.

Per core (a slice of one layer), in program order:
    LDW syn=k (each synapse) and LDP                     once, at load
    INIT, MAC (input synapses) [, READ mode=offset]      the window's first slot
    ACC syn=k (spike synapses)                           every slot of the window
    rate neuron:  INTEG mode=rate, FIRE, SEND   (MSAT: ADAPT, INTEG mode=rate, MFIRE, SEND)
    iLIF neuron:  INTEG mode=horner; last accumulate slot: ADDS (input layers), POOL (if any), BIAS;
                  emit window: EMIT, SEND
    readout:      READ mode=rate | bits; EXIT on the readout's last core (adaptive programs)
    SYNC every slot, then HALT
"""

from __future__ import annotations

import numpy as np
from snnc.targets.accel import isa
from snnc.targets.accel.binary import AccelProgram
from snnc.targets.accel.config import ChipConfig
from snnc.targets.accel.mapper import CoreSlice, row_bytes

from snnc import models
from snnc.errors import ResourceError
from snnc.ir.qnet import QLayer, QNet, to_dict

PARAM_LIMIT = 2**31 - 1


def slot_count(qnet: QNet) -> int:
    return models.model(qnet.model).coding.slots(qnet.readout.depth, qnet.timesteps)


def emit(qnet: QNet, slices: list[CoreSlice], config: ChipConfig) -> AccelProgram:
    weights, params, layer_meta = _sections(qnet)
    slots = slot_count(qnet)
    consumers = _consumers(qnet, slices)
    cores, code = [], []
    last_readout_core = max(i for i, s in enumerate(slices) if qnet.layers[s.layer].kind == "readout")
    for index, piece in enumerate(slices):
        layer = qnet.layers[piece.layer]
        descriptors, address = [], 0
        for k, synapse in enumerate(layer.synapses):
            size = (piece.rows[1] - piece.rows[0]) * row_bytes(synapse)
            offset = layer_meta[piece.layer]["synapses"][k]["weights"] + piece.rows[0] * row_bytes(synapse)
            descriptors.append({"synapse": k, "sram": address, "offset": offset, "bytes": size})
            address += size
        program = core_program(qnet, layer, slots, exits=index == last_readout_core and qnet.exit_metric is not None)
        cores.append({"id": piece.core, "segment": piece.segment, "layer": piece.layer, "rows": list(piece.rows),
                      "band": None if piece.band is None else list(piece.band), "descriptors": descriptors,
                      "code": [sum(len(c) for c in code), len(program)], "consumers": consumers[index],
                      "weight_bytes": piece.weight_bytes, "state_words": piece.state_words})  # fmt: skip
        code.append(program)
    meta = {
        "model": qnet.model, "timesteps": qnet.timesteps, "slots": slots,
        "input": {"name": qnet.input_name, "shape": list(qnet.input_shape), "scale": qnet.input_scale},
        "exit": {"metric": qnet.exit_metric, "threshold": qnet.exit_threshold,
                 "step_weights": None if qnet.step_weights is None else qnet.step_weights.tolist()},
        "layers": layer_meta, "cores": cores, "chip": config.to_dict(),
    }  # fmt: skip
    return AccelProgram(config.hash(), meta, weights, params, code)


def _sections(qnet: QNet) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """WGTS, PARM and the layers' META entries (shapes, scales, offsets into the sections)."""
    weights, params, layers = [], [], []
    weight_offset = param_offset = 0
    for layer in qnet.layers:
        channels = layer.pre_shape[0]
        zeros = np.zeros(channels, dtype=np.int64)
        block = np.concatenate([zeros if layer.threshold is None else layer.threshold, layer.bias,
                                zeros if layer.v0 is None else layer.v0])  # fmt: skip
        if np.abs(block).max(initial=0) > PARAM_LIMIT:
            raise ResourceError(f"layer {layer.name!r}: a threshold or bias does not fit a 32-bit parameter word")
        params.append(block)
        synapses = []
        for synapse in layer.synapses:
            entry = {k: v for k, v in to_dict(synapse).items() if k != "weight"}
            entry.update(weight_shape=list(synapse.weight.shape), weights=weight_offset)
            weights.append(synapse.weight.ravel())
            weight_offset += synapse.weight.size
            synapses.append(entry)
        layers.append({
            "name": layer.name, "kind": layer.kind, "shape": list(layer.shape), "pre_shape": list(layer.pre_shape),
            "pool_kernel": list(layer.pool_kernel), "pool_strides": list(layer.pool_strides),
            "pool_pads": list(layer.pool_pads), "reset": layer.reset,
            "depth": layer.depth, "scale": layer.scale.tolist(), "params": param_offset, "synapses": synapses,
            "msat": layer.msat,
        })  # fmt: skip
        param_offset += len(block)
    return np.concatenate(weights).astype(np.int8), np.concatenate(params).astype(np.int32), layers


def _consumers(qnet: QNet, slices: list[CoreSlice]) -> list[list[int]]:
    """Per core, the ids of the cores its spikes go to over the network on chip: every core of
    every consuming layer in its own segment (a later segment reads them from DRAM)."""
    by_layer: dict[str, list[CoreSlice]] = {}
    for piece in slices:
        by_layer.setdefault(qnet.layers[piece.layer].name, []).append(piece)
    readers: dict[str, list[CoreSlice]] = {}
    for layer in qnet.layers:
        for synapse in layer.synapses:
            readers.setdefault(synapse.source, [])
            readers[synapse.source] += [c for c in by_layer[layer.name] if c not in readers[synapse.source]]
    return [[c.core for c in readers.get(qnet.layers[piece.layer].name, []) if c.segment == piece.segment]
            for piece in slices]  # fmt: skip


def core_program(qnet: QNet, layer: QLayer, slots: int, exits: bool) -> list[isa.Instruction]:
    T = qnet.timesteps
    coding = models.model(qnet.model).coding
    ilif = coding.bit_plane
    start = coding.window_start(layer.depth, T)
    spikes = [k for k, s in enumerate(layer.synapses) if s.source != qnet.input_name]
    inputs = [k for k, s in enumerate(layer.synapses) if s.source == qnet.input_name]
    code = [isa.make("LDW", syn=k) for k in range(len(layer.synapses))] + [isa.make("LDP")]
    code += [isa.make("INIT", start, 1)] + [isa.make("MAC", start, 1, syn=k) for k in inputs]
    if layer.kind == "readout" and ilif:
        code.append(isa.make("READ", start, 1, mode="offset"))
    if ilif and layer.kind == "neuron":  # weights stationary over the T steps: one pass over the codes
        code += [isa.make("ACC", start + T - 1, 1, syn=k, form="code") for k in spikes]
    else:  # the readout's per-step currents are what an early exit reads
        code += [isa.make("ACC", start, T, syn=k) for k in spikes]
    if layer.kind == "readout":
        code.append(isa.make("READ", start, T, mode="bits" if ilif else "rate"))
        if exits:
            code.append(isa.make("EXIT", start, T, metric=qnet.exit_metric))
    elif ilif:
        last = start + T - 1
        code += [isa.make("INTEG", last, 1, mode="code")] if spikes else []  # an input layer has no events
        code += [isa.make("ADDS", last, 1)] if inputs else []
        code += [isa.make("POOL", last, 1)] if layer.pool_kernel else []
        code += [isa.make("BIAS", last, 1), isa.make("EMIT", start + T, T), isa.make("SEND", start + T, T)]
    elif layer.msat is not None:
        code += [isa.make("ADAPT", start, T), isa.make("INTEG", start, T, mode="rate"), isa.make("MFIRE", start, T),
                 isa.make("SEND", start, T)]  # fmt: skip
    else:
        code += [isa.make("INTEG", start, T, mode="rate"), isa.make("FIRE", start, T, reset=layer.reset),
                 isa.make("SEND", start, T)]  # fmt: skip
    return code + [isa.make("SYNC", 0, slots), isa.make("HALT")]
