"""-t accel: quantize → map → emit an instruction stream for the accelerator (docs/accel.md, docs/isa.md)."""

from __future__ import annotations

from dataclasses import dataclass

from snnc.passes.quantize import input_scale, quantize
from snnc.targets.accel.binary import AccelProgram, decode_program, encode_program, read_program
from snnc.targets.accel.config import DEFAULT, ChipConfig, load_config
from snnc.targets.accel.emit import emit
from snnc.targets.accel.mapper import CoreSlice, place, resource_table

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


def build(graph: Graph, timesteps: int, scale_in: float, config: ChipConfig = DEFAULT) -> AccelBuild:
    """The whole accel back end for a converted graph."""
    qnet = quantize(graph, timesteps, scale_in)
    slices = place(qnet, config)
    return AccelBuild(qnet, slices, emit(qnet, slices, config), config)
