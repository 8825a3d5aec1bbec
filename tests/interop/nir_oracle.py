"""An independent NIR interpreter for the tests: NIR's node equations, one step at a time, in
float64, written from NIR's documentation and sharing no code with snnc's exporter or importer.

Conventions where NIR leaves them open, as snnc's export metadata states them: the input is
presented unchanged at every step; IF integrates v += r·dt·I and LIF v += dt/τ·(v_leak − v + r·I);
a neuron fires at v ≥ θ (metadata "neuron"); it then resets by subtraction or to v_reset
(metadata "reset"); the output is averaged over the steps.
"""

from __future__ import annotations

import graphlib

import nir
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def run(graph: nir.NIRGraph, x: np.ndarray, timesteps: int) -> tuple[np.ndarray, dict[str, int]]:
    """The output averaged over `timesteps` steps, and the spikes of each neuron node."""
    meta = graph.metadata or {}
    reset, dt = str(meta.get("reset", "zero")), float(meta.get("dt", 1.0))
    predecessors = {name: set() for name in graph.nodes}
    for src, dst in graph.edges:
        predecessors[dst].add(src)
    order = list(graphlib.TopologicalSorter(predecessors).static_order())
    membranes = {name: 0.0 for name, node in graph.nodes.items() if isinstance(node, (nir.IF, nir.LIF))}
    spikes = dict.fromkeys(membranes, 0)
    total = None
    for _ in range(timesteps):
        values = {}
        for name in order:
            node = graph.nodes[name]
            inputs = [values[src] for src, dst in graph.edges if dst == name]
            current = x.astype(np.float64) if isinstance(node, nir.Input) else sum(inputs)
            if isinstance(node, (nir.IF, nir.LIF)):
                if isinstance(node, nir.IF):
                    v = membranes[name] + np.asarray(node.r) * dt * current
                else:
                    v = membranes[name] + dt / np.asarray(node.tau) * (np.asarray(node.v_leak) - membranes[name]
                                                                    + np.asarray(node.r) * current)  # fmt: skip
                fired = v >= np.asarray(node.v_threshold)
                v = v - fired * np.asarray(node.v_threshold) if reset == "subtract" else np.where(fired, 0.0, v)
                membranes[name], spikes[name] = v, spikes[name] + int(fired.sum())
                values[name] = fired.astype(np.float64)
            else:
                values[name] = apply(node, current)
        output = sum(values[name] for name, node in graph.nodes.items() if isinstance(node, nir.Output))
        total = output if total is None else total + output
    return total / timesteps, spikes


def apply(node, x: np.ndarray) -> np.ndarray:
    if isinstance(node, (nir.Input, nir.Output)):
        return x
    if isinstance(node, nir.Affine):
        return x @ np.asarray(node.weight, np.float64).T + node.bias
    if isinstance(node, nir.Flatten):
        return x.reshape(len(x), -1)
    if isinstance(node, nir.Conv2d):
        return conv2d(x, node)
    if isinstance(node, (nir.AvgPool2d, nir.SumPool2d)):
        kernel, stride = tuple(node.kernel_size), tuple(node.stride)
        windows = sliding_window_view(x, kernel, axis=(2, 3))[:, :, :: stride[0], :: stride[1]]
        summed = windows.sum(axis=(-1, -2))
        return summed if isinstance(node, nir.SumPool2d) else summed / np.prod(kernel)
    raise NotImplementedError(type(node).__name__)


def conv2d(x: np.ndarray, node) -> np.ndarray:
    weight = np.asarray(node.weight, np.float64)
    (ph, pw), (sh, sw), (dh, dw) = tuple(node.padding), tuple(node.stride), tuple(node.dilation)
    groups = int(node.groups)
    x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out_ch, in_per_group, kh, kw = weight.shape
    span = ((kh - 1) * dh + 1, (kw - 1) * dw + 1)
    windows = sliding_window_view(x, span, axis=(2, 3))[:, :, ::sh, ::sw, ::dh, ::dw]  # N C H W kh kw
    out = []
    for g in range(groups):
        part = windows[:, g * in_per_group : (g + 1) * in_per_group]
        w = weight[g * (out_ch // groups) : (g + 1) * (out_ch // groups)]
        out.append(np.einsum("nchwij,ocij->nohw", part, w))
    return np.concatenate(out, axis=1) + np.asarray(node.bias, np.float64)[None, :, None, None]
