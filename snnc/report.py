"""The per-layer report of a compiled program: neurons, thresholds, firing rates, SOPs, energy."""

from __future__ import annotations

import numpy as np

from snnc.energy import E_AC_PJ, E_MAC_PJ, ann_energy_pj, snn_energy_pj
from snnc.inspection import format_table
from snnc.ir.ops_nn import Conv, Gemm
from snnc.ir.ops_snn import Neuron


def ann_macs(graph) -> int:
    """MACs per sample of the weighted layers (the ANN's compute on the same weights)."""
    total = 0
    for node in graph.nodes():
        if isinstance(node.op, (Conv, Gemm)):
            total += node.op.macs([graph.type(i) for i in node.inputs], node.type)
    return total


def program_report(program, result=None) -> dict:
    """A dict for --json; with a SimResult, per-image activity and energy too."""
    graph, settings = program.graph, program.settings
    layers = []
    for node in graph.nodes():
        if not isinstance(node.op, Neuron):
            continue
        theta = node.op.threshold
        row = {
            "name": node.name,
            "model": node.op.model,
            "neurons": int(np.prod(node.type.sample_shape)),
            "threshold": float(theta) if theta.ndim == 0 else {"min": float(theta.min()), "max": float(theta.max())},
            "stage": node.op.depth,
        }
        if result is not None and result.samples:
            spikes = result.spikes.get(node.name, 0) / result.samples
            row["spikes_per_image"] = spikes
            row["firing_rate"] = spikes / (row["neurons"] * settings.timesteps)
        layers.append(row)
    report = {
        "settings": settings_report(settings),
        "latency_steps": program.latency_steps,
        "layers": layers,
        "ann_macs_per_image": ann_macs(graph),
        "notes": program.notes,
    }
    if result is not None and result.samples:
        report["activity"] = activity(result, report["ann_macs_per_image"])
        if result.hardware is not None:
            report["accel"] = result.hardware.summary()
    return report


def settings_report(settings) -> dict:
    """The settings that shaped the program: the threshold settings only where data set them."""
    shown = {k: getattr(settings, k) for k in ("target", "neuron", "timesteps", "reset")}
    if not any(spec.startswith("balance-thresholds") for spec in settings.passes):
        shown["thresholds"] = "given by the network (an SNN imported from NIR)"
    elif settings.calibrated:
        shown.update({k: getattr(settings, k) for k in ("thresholds", "per_channel", "bias_correction")})
        if settings.thresholds == "percentile":
            shown["percentile"] = settings.percentile
    else:
        shown["thresholds"] = "data-free (weight bounds)"
    shown["adaptive"] = settings.adaptive
    return shown


def speed(images: int, wall_s: float, threads: int | None) -> dict:
    """How fast a run was: images, wall seconds, images per second, threads (None: all cores)."""
    return {"images": images, "wall_s": round(wall_s, 3),
            "images_per_s": round(images / wall_s, 1) if wall_s > 0 else None, "threads": threads}  # fmt: skip


OPS_ENERGY = "ops_energy_45nm_pj_per_image"  # the estimate's name everywhere (never plain "energy")


def activity(result, ann_macs_per_image: int) -> dict:
    n = result.samples
    sops = sum(result.sops.values()) / n
    analog = sum(result.macs.values()) / n
    snn_pj, ann_pj = snn_energy_pj(sops, analog), ann_energy_pj(ann_macs_per_image)
    return {
        "images": n,
        "latency_steps_mean": float(np.mean(result.steps)),
        "latency_steps_p95": float(np.percentile(result.steps, 95)),
        "spikes_per_image": sum(result.spikes.values()) / n,
        "sops_per_image": sops,
        "sops_by_layer": {k: v / n for k, v in result.sops.items()},
        "analog_macs_per_image": analog,
        # not the chip's energy (report["accel"]["energy_uj"]): operation counts × 45 nm energies
        OPS_ENERGY: {"snn": snn_pj, "ann": ann_pj, "snn_over_ann": snn_pj / ann_pj if ann_pj else None},
        "ops_energy_model": f"{E_AC_PJ} pJ/accumulate, {E_MAC_PJ} pJ/MAC (45 nm, Horowitz 2014); compute only",
    }


def render_report(report: dict, notes: bool = True) -> str:
    """The report as tables for people (`notes`: with the compile log, the passes' notes); the
    firing rates where the report is of a run."""
    ran = "activity" in report
    rows = []
    for layer in report["layers"]:
        theta = layer["threshold"]
        theta_text = f"{theta:.4g}" if isinstance(theta, float) else f"{theta['min']:.3g}..{theta['max']:.3g}"
        rows.append([layer["name"], layer["model"], f"{layer['neurons']:,}", theta_text, layer["stage"]])
        if ran:
            rows[-1].append(f"{layer.get('firing_rate', 0.0):.4f}")
    s = report["settings"]
    headers = ["layer", "neuron", "neurons", "threshold", "stage"] + ["firing rate"] * ran
    lines = [
        format_table(headers, rows, {2, 4, 5}),
        "",
        f"{s['neuron']} T={s['timesteps']} target={s['target']}: latency {report['latency_steps']} steps; "
        f"ANN {report['ann_macs_per_image']:,} MACs/image",
    ]
    act = report.get("activity")
    if act:
        energy = act[OPS_ENERGY]
        lines.append(
            f"per image: {act['spikes_per_image']:,.0f} spikes, {act['sops_per_image']:,.0f} SOPs, "
            f"{act['analog_macs_per_image']:,.0f} analog MACs; 45 nm operation-count estimate (compute only) "
            f"{energy['snn'] / 1e6:.3f} µJ, the ANN's {energy['ann'] / 1e6:.3f} µJ: SNN/ANN "
            f"{energy['snn_over_ann']:.3f}; latency {act['latency_steps_mean']:.1f} steps on average, "
            f"p95 {act['latency_steps_p95']:.0f}"
        )
    if "accel" in report:
        lines += render_accel(report["accel"])
    for pass_name, said in report["notes"].items() if notes else ():
        lines += [f"[{pass_name}] {note}" for note in said]
    return "\n".join(lines)


def render_accel(summary: dict) -> list[str]:
    """The accel simulator's figures per image, for people."""
    breakdown = ", ".join(f"{k} {v:.3g}" for k, v in summary["energy_breakdown_uj"].items())
    return [
        f"accelerator ({summary['cores']} cores): {summary['cycles']:,.0f} cycles per image "
        f"(p95 {summary['cycles_p95']:,.0f}; {summary['cycles_unpipelined']:,.0f} without pipelining), "
        f"{summary['latency_us']:,.1f} µs; streaming {summary['images_per_s_streaming']:,.0f} images/s",
        f"chip energy {summary['energy_uj']:.2f} µJ per image ({breakdown}); the ANN on the same chip "
        f"{summary['ann_energy_uj']:.2f} µJ: SNN/ANN {summary['snn_ann_energy_ratio']:.2f}",
    ]
