"""spike-confidence: measure MSAT's spike confidence on calibration data and apply it.

In the first steps a rate-coded neuron fires on transients: some spikes come from neurons whose
ANN activation is ≤ 0 (SIN, spikes of inactivated neurons). Per layer, over the first
min(T, 16) steps of a calibration run:

    c = 1 − SIN / (SIN + POS)

with POS the spikes of neurons whose ANN activation is > 0. Every layer's c is reported; with
`apply`, the last spiking layer (the one feeding the readout) keeps each spike of its first 16
steps with probability c (He et al. 2024). Off by default: on the Fashion-MNIST VGG fixture it
cost 0.2–0.5 points at T = 8–32. A no-op for other neuron models, and without calibration
data (noted).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from snnc.passes.base import Pass, PassContext, register_pass
from snnc.passes.settings import setting
from snnc.runtime.ann import execute
from snnc.runtime.snn import final_window, simulate

from snnc.errors import ConversionError
from snnc.ir.graph import Graph
from snnc.ir.ops_snn import MsatNeuron


@dataclass
class SpikeConfidenceOptions:
    apply: bool = field(
        default=False,
        metadata=setting("spike_confidence", "MSAT: drop early spikes of the last layer by their measured confidence"),
    )
    samples: int = 32  # calibration samples simulated (by the reference simulator: it is slow)
    batch_size: int = 32

    def __post_init__(self) -> None:
        if self.samples < 1 or self.batch_size < 1:
            raise ConversionError("spike-confidence needs at least one sample per batch")


@register_pass
class SpikeConfidence(Pass):
    name = "spike-confidence"
    Options = SpikeConfidenceOptions

    def run(self, graph: Graph, ctx: PassContext) -> None:
        layers = [n for n in graph.topological() if isinstance(graph.op(n), MsatNeuron)]
        if not layers:
            return
        if ctx.calibration is None:
            ctx.note(self.name, "no calibration data: spike confidence not measured, every spike kept")
            return
        steps = min(ctx.timesteps, max(graph.op(n).confidence_steps for n in layers))
        if steps < 1:
            return
        confidence = self.measure(graph, layers, ctx.calibration[: self.options.samples], steps)
        last = [n for n in layers if n in final_window(graph)]
        for name in layers:
            applied = name in last and self.options.apply
            ctx.note(self.name, f"{name}: c = {confidence[name]:.4f}{' (applied)' if applied else ''}")
            if applied:
                op = graph.op(name)
                graph.replace_op(name, MsatNeuron(**{**op.attributes(), "confidence": max(confidence[name], 1e-3)}))

    def measure(self, graph: Graph, layers: list[str], data: np.ndarray, steps: int) -> dict[str, float]:
        sin = dict.fromkeys(layers, 0)
        pos = dict.fromkeys(layers, 0)
        for start in range(0, len(data), self.options.batch_size):
            batch = data[start : start + self.options.batch_size]
            active = execute(graph, batch, keep=layers)
            records = simulate(graph, batch, steps, record=layers).records
            for name in layers:
                fired = records[name].sum(axis=1, dtype=np.int64)  # (B, ...) spikes per neuron
                positive = active[name] > 0
                pos[name] += int(fired[positive].sum())
                sin[name] += int(fired[~positive].sum())
        return {n: 1.0 - sin[n] / (sin[n] + pos[n]) if sin[n] + pos[n] else 1.0 for n in layers}
