"""`snnc eval`: the ANN (run by onnxruntime) against its SNN conversions over neuron models and
timestep counts, on a labelled dataset."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from snnc.data import calibration_data, check_data, check_labels, load_arrays
from snnc.datasets import NAMED_DATASETS
from snnc.frontend import import_onnx, load_model
from snnc.program import compile
from snnc.progress import progress
from snnc.report import activity, ann_macs

CHUNK = 256  # images per simulator call (the progress bar advances per chunk)


def run_ann(model_path: str, x: np.ndarray) -> np.ndarray:
    """Logits from onnxruntime: the independent oracle for the ANN."""
    session = ort.InferenceSession(load_model(model_path).SerializeToString(), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: x[i : i + CHUNK]})[0] for i in range(0, len(x), CHUNK)])


def evaluate(
    model_path: str,
    data: str,
    neurons: list[str],
    timesteps: list[int],
    calib: str | None = None,
    limit: int | None = None,
    target: str = "cpu",
    percentile: float | None = None,
    per_channel: bool = False,
    quiet: bool = False,
    v_init: float = 0.5,
    threads: int | None = None,
) -> dict:
    """`target` "reference" compiles for the cpu and runs the numpy reference simulator."""
    graph = import_onnx(model_path)
    x, y = load_arrays(data, "test", limit)
    x = check_data(x, graph.type(graph.inputs[0]), f"data {data!r}")
    y = check_labels(y, len(x), f"data {data!r}")
    if calib is None and data in NAMED_DATASETS:
        calib = data  # its training split
    calibration = calibration_data(calib, graph.type(graph.inputs[0]))
    ann_logits = run_ann(model_path, x)
    ann_pred = ann_logits.argmax(axis=1)
    results = []
    compile_target = "cpu" if target == "reference" else target
    engine = "reference" if target == "reference" else None
    for neuron in neurons:
        program = compile(
            graph, target=compile_target, neuron=neuron, timesteps=max(timesteps), calibration=calibration,
            percentile=percentile, per_channel=per_channel, v_init=v_init,
        )  # fmt: skip
        for steps in timesteps:
            results.append(_evaluate_one(program, neuron, steps, x, y, ann_pred, quiet, engine, threads))
    return {
        "model": str(model_path),
        "data": data,
        "target": target,
        "images": len(x),
        "calibration": calib,
        "ann": {"accuracy": float((ann_pred == y).mean())},
        "results": results,
    }


def run_with_progress(program, x: np.ndarray, timesteps: int | None, desc: str, quiet: bool, **options):
    """program.run over chunks of the inputs, advancing a progress bar; one merged SimResult.
    `options` go to Program.run (engine, threads, record)."""
    merged = None
    with progress(total=len(x), desc=desc, quiet=quiet) as bar:
        for start in range(0, len(x), CHUNK):
            result = program.run(x[start : start + CHUNK], timesteps=timesteps, **options)
            merged = result if merged is None else merged.merge(result)
            bar.update(len(result.logits))
    return merged


def _evaluate_one(program, neuron: str, steps: int, x, y, ann_pred, quiet: bool, engine, threads) -> dict:
    merged = run_with_progress(program, x, steps, f"{neuron} T={steps}", quiet, engine=engine, threads=threads)
    predicted = merged.logits.argmax(axis=1)
    act = activity(merged, ann_macs(program.graph))
    return {
        "neuron": neuron,
        "timesteps": steps,
        "accuracy": float((predicted == y).mean()),
        "agreement": float((predicted == ann_pred).mean()),
        "latency_steps": int(np.mean(merged.steps)),
        "spikes_per_image": act["spikes_per_image"],
        "sops_per_image": act["sops_per_image"],
        "energy_ratio": act["energy_pj_per_image"]["snn_over_ann"],
    }


def render_evaluation(report: dict) -> str:
    from snnc.inspection import format_table

    rows = [["ANN (onnxruntime)", "-", f"{100 * report['ann']['accuracy']:.2f}", "-", "1", "-", "-"]]
    for r in report["results"]:
        rows.append(
            [r["neuron"], r["timesteps"], f"{100 * r['accuracy']:.2f}", f"{100 * r['agreement']:.2f}",
             r["latency_steps"], f"{r['spikes_per_image']:,.0f}", f"{r['sops_per_image']:,.0f}"]
        )  # fmt: skip
    headers = ["model", "T", "accuracy %", "agreement %", "latency steps", "spikes/image", "SOPs/image"]
    return f"{report['images']} images of {report['data']}\n" + format_table(headers, rows, {1, 2, 3, 4, 5, 6})


def plot_evaluation(report: dict, path: str) -> None:
    """Accuracy against T, one line per neuron model, the ANN as a dashed reference."""
    from snnc.plotting import pyplot, save_figure

    plt = pyplot()
    figure, axes = plt.subplots(figsize=(6, 4))
    for neuron in dict.fromkeys(r["neuron"] for r in report["results"]):
        rows = [r for r in report["results"] if r["neuron"] == neuron]
        axes.plot([r["timesteps"] for r in rows], [100 * r["accuracy"] for r in rows], marker="o", label=neuron)
    axes.axhline(100 * report["ann"]["accuracy"], color="black", linestyle="--", label="ANN")
    axes.set_xscale("log", base=2)
    axes.set_xlabel("timesteps T")
    axes.set_ylabel("top-1 accuracy (%)")
    axes.set_title(f"{report['model']} on {report['data']} ({report['images']} images)", fontsize=9)
    axes.grid(alpha=0.3)
    axes.legend()
    save_figure(figure, path)
