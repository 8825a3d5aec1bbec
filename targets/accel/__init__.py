"""-t accel: quantize → map → emit an instruction stream for the accelerator (docs/accel.md, docs/isa.md)."""

from __future__ import annotations

from dataclasses import dataclass

from snnc.passes.quantize import input_scale, quantize
from snnc.targets.accel import segments
from snnc.targets.accel.binary import AccelProgram, decode_program, encode_program, read_program
from snnc.targets.accel.config import DEFAULT, ChipConfig, load_config
from snnc.targets.accel.emit import emit
from snnc.targets.accel.mapper import CoreSlice, layer_shares, place, resource_table, segments_of

from snnc.ir.graph import Graph
from snnc.ir.qnet import QNet

__all__ = [
    "AccelBuild",
    "build",
    "decode_program",
    "encode_program",
    "read_program",
    "load_config",
    "DEFAULT",
    "input_scale",
]


@dataclass
class AccelBuild:
    qnet: QNet
    slices: list[CoreSlice]
    program: AccelProgram
    config: ChipConfig

    def resources(self) -> list[dict]:
        return resource_table(self.qnet, self.slices, self.config)

    def plan(self) -> dict:
        """How the network runs: its segments (one when it fits the chip) and the off-chip
        bytes per image they move (segments.py)."""
        parts = segments_of(self.qnet, self.slices)
        moved = segments.traffic(
            segments.qnet_readers(self.qnet),
            segments.layer_bytes(self.qnet),
            layer_shares(self.qnet, self.slices),
            [p.weight_bytes for p in parts],
            self.config,
        )
        names = [layer.name for layer in self.qnet.layers]
        return {
            "segments": [{"first_layer": names[p.layers[0]], "last_layer": names[p.layers[1] - 1],
                          "layers": p.layers[1] - p.layers[0], "cores": p.cores, "weight_bytes": p.weight_bytes,
                          "chip": number % self.config.chips} for number, p in enumerate(parts)],
            "off_chip_bytes_per_image": moved,
            "swap_batch": self.config.swap_batch,
            "objective": self.config.objective,
        }  # fmt: skip


def build(graph: Graph, timesteps: int, scale_in: float, config: ChipConfig = DEFAULT) -> AccelBuild:
    """The whole accel back end for a converted graph."""
    qnet = quantize(graph, timesteps, scale_in)
    slices = place(qnet, config)
    return AccelBuild(qnet, slices, emit(qnet, slices, config), config)
