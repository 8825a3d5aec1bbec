"""`snnc eval`: the ANN (run by onnxruntime) against its SNN conversions over neuron models and
timestep counts, on a labelled dataset."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import onnxruntime as ort

from snnc import models
from snnc.data import calibration_set, check_data, check_labels, load_arrays
from snnc.datasets import NAMED_DATASETS
from snnc.errors import UsageError
from snnc.frontend import import_onnx, load_model
from snnc.passes.schedule import latency_steps
from snnc.program import NO_CALIBRATION, Program, compile
from snnc.report import OPS_ENERGY, activity, ann_macs, speed
from snnc.runners import CHUNK, ClusterRunner, LocalRunner
from snnc.timing import recording


def run_ann(model_path: str, x: np.ndarray, threads: int | None = None) -> tuple[np.ndarray, float]:
    """(logits from onnxruntime, the independent oracle for the ANN; the wall seconds they took)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or 0  # 0: onnxruntime's default, all cores
    session = ort.InferenceSession(load_model(model_path).SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])  # fmt: skip
    name = session.get_inputs()[0].name
    began = time.perf_counter()
    logits = np.concatenate([session.run(None, {name: x[i : i + CHUNK]})[0] for i in range(0, len(x), CHUNK)])
    return logits, time.perf_counter() - began


def evaluate(
    model_path: str,
    data: str,
    neurons: list[str],
    timesteps: list[int],
    calib: str | None = None,
    limit: int | None = None,
    target: str = "cpu",
    options: dict | None = None,
    exits: dict | None = None,
    quiet: bool = False,
    threads: int | None = None,
    numeric: str = "float",
    data_free: bool = False,
    cluster=None,
    workers: int | None = None,
    per_image: bool = False,
) -> dict:
    """`target` "reference" compiles for the cpu and runs the numpy reference simulator;
    `numeric` "fixed" runs the quantized integer network instead (cpu: native code; reference:
    runtime/fixed.py), as the accel target computes it.
    `options` go to compile(); `exits` (budget, metric, step_weights) adds, for every neuron
    model and T, a row with adaptive exits calibrated on the calibration set. A neuron model and
    T the target cannot run together is skipped (report["skipped"] says why), not an error.
    `cluster`: run the sweep and its calibrations on a Ray cluster: "ray" (a local instance),
    "ray://HOST:PORT", "HOST:PORT", or a snnc.cluster.ShardPool; `workers` caps its workers,
    `threads` are each worker's. The results are those of a run in this process; report["cluster"]
    says how it went. `per_image`: each row lists its predictions and steps used per image."""
    engine = engine_for(target, numeric)  # a bad combination fails before any work
    graph = import_onnx(model_path)
    x, y = load_arrays(data, "test", limit)
    x = check_data(x, graph.type(graph.inputs[0]), f"data {data!r}")
    output = graph.type(graph.outputs[0]).sample_shape
    y = check_labels(y, len(x), f"data {data!r}", output[0] if len(output) == 1 else None)
    if calib is None and data in NAMED_DATASETS and not data_free:
        calib = data  # its training split
    if calib is None and not data_free:
        raise UsageError(NO_CALIBRATION)
    calibration, calibration_labels = calibration_set(calib, graph.type(graph.inputs[0])) if calib else (None, None)
    if exits is not None and calibration is None:
        raise UsageError("--adaptive calibrates its exit threshold on --calib data: pass --calib")
    runner = _runner(cluster, workers, quiet, engine, threads)
    try:
        ann_logits, ann_wall = run_ann(model_path, x, threads)
        ann_pred = ann_logits.argmax(axis=1)
        jobs, skipped = _submit_sweep(graph, neurons, timesteps, target, options, exits, data_free, x,
                                      (calibration, calibration_labels), runner)  # fmt: skip
        runs = runner.finish([handle for _, handle in jobs])
        results = [_row(job, merged, seconds, x, y, ann_pred, runner.threads, per_image)
                   for (job, _), (merged, seconds) in zip(jobs, runs)]  # fmt: skip
        stats = runner.stats()
    finally:
        runner.close()
    report = {
        "model": str(model_path),
        "data": data,
        "target": target,
        "images": len(x),
        "calibration": calib,
        "numeric": numeric,
        "ann": {"accuracy": float((ann_pred == y).mean()), "speed": speed(len(x), ann_wall, threads)},
        "results": results,
        "skipped": skipped,
    }
    if stats is not None:
        report["cluster"] = stats
    return report


def _runner(cluster, workers: int | None, quiet: bool, engine: str | None, threads: int | None):
    if cluster is None:
        if workers is not None:
            raise UsageError("--workers is for --cluster")
        return LocalRunner(quiet, engine, threads)
    from snnc.cluster import ShardPool, parse_cluster

    pool = cluster if isinstance(cluster, ShardPool) else ShardPool(parse_cluster(cluster), workers, threads)
    return ClusterRunner(pool, quiet, engine)


def _submit_sweep(graph, neurons, timesteps, target, options, exits, data_free, x, calibration_data, runner):
    """Compile each configuration and submit its runs: ([(Job, the runner's handle)], skipped)."""
    calibration, calibration_labels = calibration_data
    jobs, skipped = [], []
    compile_target = "cpu" if target == "reference" else target
    for neuron in neurons:
        runnable = _runnable_steps(neuron, timesteps, skipped)
        if not runnable:
            continue
        per_step = _fitted_to_steps(neuron, options, data_free)
        program = None
        for steps in runnable:
            if program is None or per_step:
                with recording(show=not runner.quiet):  # a line naming the running stage: calibration, passes, LLVM
                    program = compile(graph, target=compile_target, neuron=neuron,
                                      timesteps=steps if per_step else max(runnable), calibration=calibration,
                                      data_free=data_free, mapper=runner.mapper, **(options or {}))  # fmt: skip
            jobs.append((Job.of(program, steps), runner.submit(program, steps, x, f"{neuron} T={steps}")))
            if exits is not None:
                adaptive = _with_exits(program, steps, calibration, calibration_labels, exits, runner)
                handle = runner.submit(adaptive, steps, x, f"{neuron} T={steps} adaptive")
                jobs.append((Job.of(adaptive, steps), handle))
    return jobs, skipped


@dataclasses.dataclass(frozen=True)
class Job:
    """What a row needs of its program, so that the program (its native code) is not kept."""

    neuron: str
    steps: int
    full_latency: int  # the steps until the output is final without exits
    ann_macs: int
    exits: dict | None

    @classmethod
    def of(cls, program: Program, steps: int) -> Job:
        settings = program.settings
        full = latency_steps(program.graph, settings.neuron, steps, settings.pipelined)
        return cls(settings.neuron, steps, full, ann_macs(program.graph), settings.adaptive)


def _fitted_to_steps(neuron: str, options: dict | None, data_free: bool) -> bool:
    """Whether the conversion fits itself to T (thresholds of least error at T, bias corrected
    by a simulation of T steps): then each T gets its own compile, as `snnc -T` would give it;
    otherwise one compile at the largest T runs them all."""
    from snnc.passes.settings import resolve

    settings = resolve({**(options or {}), "neuron": neuron})
    return not data_free and (settings["thresholds"] == "error" or bool(settings["bias_correction"]))


def _runnable_steps(neuron: str, timesteps: list[int], skipped: list[dict]) -> list[int]:
    """The T a neuron model runs with (its engines' limit); the others are added to `skipped`."""
    limit = models.model(neuron).max_steps
    for steps in timesteps:
        if limit is not None and steps > limit:
            skipped.append({"neuron": neuron, "timesteps": steps,
                            "reason": f"{neuron} runs with at most {limit} steps (its bits fit an int32)"})  # fmt: skip
    return [steps for steps in timesteps if limit is None or steps <= limit]


def engine_for(target: str, numeric: str) -> str | None:
    """Program.run's engine for an eval target and numeric mode (None: the target's own)."""
    if numeric not in ("float", "fixed"):
        raise UsageError(f"numeric mode must be float or fixed, got {numeric!r}")
    if numeric == "float":
        return "reference" if target == "reference" else None
    if target == "accel":
        raise UsageError("the accel target computes in fixed point already: drop --numeric")
    return "fixed" if target == "reference" else "native-fixed"


def _with_exits(program: Program, steps: int, x, labels, exits: dict, runner) -> Program:
    """A copy of the program at T = steps, with exits calibrated on (x, labels)."""
    settings = dataclasses.replace(program.settings, timesteps=steps)
    copy = Program(program.graph.copy(), settings, dict(program.notes))
    with recording(show=not runner.quiet):  # the exits' traces run over all of the calibration set
        copy.calibrate_exits(x, labels, threads=runner.threads, engine=runner.engine, tracer=runner.tracer, **exits)
    return copy


def _row(job: Job, merged, seconds: float, x, y, ann_pred, threads, per_image: bool) -> dict:
    neuron, steps, exits = job.neuron, job.steps, job.exits
    predicted = merged.logits.argmax(axis=1)
    act = activity(merged, job.ann_macs)
    used = steps - (job.full_latency - merged.steps)  # the readout's steps (iLIF: bits read) per image
    row = {
        "neuron": neuron,
        "timesteps": steps,
        "adaptive": bool(exits),
        "accuracy": float((predicted == y).mean()),
        "agreement": float((predicted == ann_pred).mean()),
        "mean_steps_used": float(np.mean(used)),
        "p95_steps_used": float(np.percentile(used, 95)),
        "mean_latency_steps": float(np.mean(merged.steps)),
        "steps_used_histogram": np.bincount(used - 1, minlength=steps).tolist(),
        "spikes_per_image": act["spikes_per_image"],
        "sops_per_image": act["sops_per_image"],
        "ops_energy_ratio_45nm": act[OPS_ENERGY]["snn_over_ann"],  # the chip's own: row["accel"]
        "speed": speed(len(x), seconds, threads),
    }
    if merged.hardware is not None:  # the accel simulator: the chip's own figures per image
        summary = merged.hardware.summary()
        row["accel"] = {k: summary[k] for k in ("cycles", "cycles_p95", "latency_us", "energy_uj", "ann_energy_uj",
                                                "snn_ann_energy_ratio", "images_per_s_streaming")}  # fmt: skip
    if exits:
        row["exit"] = {k: exits[k] for k in ("metric", "budget", "margin", "step_weights", "threshold", "accuracy",
                                             "fixed_accuracy", "mean_steps", "against")}  # fmt: skip
    if per_image:
        row["predictions"] = predicted.tolist()
        row["steps_used"] = used.tolist()
    return row


def render_evaluation(report: dict) -> str:
    from snnc.inspection import format_table

    ann = report["ann"]
    rows = [["ANN (onnxruntime)", "-", f"{100 * ann['accuracy']:.2f}", "-", "-", "-", "-", "-", "-",
             _rate(ann["speed"])]]  # fmt: skip
    for r in report["results"]:
        rows.append(
            [r["neuron"] + (" adaptive" if r["adaptive"] else ""), r["timesteps"], f"{100 * r['accuracy']:.2f}",
             f"{100 * r['agreement']:.2f}", f"{r['mean_steps_used']:.1f}", f"{r['p95_steps_used']:.0f}",
             f"{r['mean_latency_steps']:.1f}", f"{r['spikes_per_image']:,.0f}", f"{r['sops_per_image']:,.0f}",
             _rate(r["speed"])]
        )  # fmt: skip
    headers = ["model", "T", "accuracy %", "agreement %", "steps used", "p95 used", "latency steps",
               "spikes/image", "SOPs/image", "images/s"]  # fmt: skip
    if any("accel" in r for r in report["results"]):  # the chip's cycles and energy per image
        headers += ["cycles", "µJ", "SNN/ANN"]
        rows[0] += ["-", "-", "-"]
        for row, r in zip(rows[1:], report["results"]):
            chip = r.get("accel", {})
            row += [f"{chip.get('cycles', 0):,.0f}", f"{chip.get('energy_uj', 0):.1f}",
                    f"{chip.get('snn_ann_energy_ratio', 0):.2f}"]  # fmt: skip
    lines = [f"{report['images']} images of {report['data']}",
             format_table(headers, rows, set(range(1, len(headers))))]  # fmt: skip
    lines += [f"skipped {s['neuron']} T={s['timesteps']}: {s['reason']}" for s in report.get("skipped", [])]
    if "cluster" in report:
        c = report["cluster"]
        lines.append(f"on {c['workers']} workers at {c['address']}: {c['tasks']} tasks ({c['retried_tasks']} run "
                     f"again after a worker died) in {c['wall_s']:.1f} s; images/s per worker")  # fmt: skip
    lines.append("steps used: the readout's steps per image (iLIF: bits read; fewer with adaptive exits); "
                 "latency: until the output is final, the pipeline's fill included")  # fmt: skip
    return "\n".join(lines)


def _rate(speed: dict) -> str:
    return "-" if speed["images_per_s"] is None else f"{speed['images_per_s']:,.0f}"


MARKERS = {"ilif": "o", "if": "s", "msat": "^"}  # each model its own marker: overlapping lines stay visible
LINES = {"ilif": "-", "if": "--", "msat": ":"}


def plot_evaluation(report: dict, path: str) -> None:
    """Accuracy against T, one line per neuron model, the ANN as a dashed reference; with
    adaptive rows, a second panel of accuracy against the mean steps used (the fixed-T rows use
    T), and a histogram of the steps used at the largest T."""
    from pathlib import Path

    from snnc.plotting import pyplot, save_figure

    plt = pyplot()
    adaptive = [r for r in report["results"] if r["adaptive"]]
    panels = 3 if adaptive else 1
    figure, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 4), squeeze=False)
    axes = axes[0]
    neurons = list(dict.fromkeys(r["neuron"] for r in report["results"]))
    for neuron in neurons:
        style = dict(marker=MARKERS.get(neuron, "o"), linestyle=LINES.get(neuron, "-"), label=neuron)
        rows = [r for r in report["results"] if r["neuron"] == neuron and not r["adaptive"]]
        axes[0].plot([r["timesteps"] for r in rows], [100 * r["accuracy"] for r in rows], **style)
        if adaptive:
            line = axes[1].plot([r["timesteps"] for r in rows], [100 * r["accuracy"] for r in rows], **style)
            early = [r for r in adaptive if r["neuron"] == neuron]
            axes[1].plot([r["mean_steps_used"] for r in early], [100 * r["accuracy"] for r in early],
                         marker=MARKERS.get(neuron, "o"), linestyle="none", markerfacecolor="none", markersize=9,
                         color=line[0].get_color(), label=f"{neuron} adaptive")  # fmt: skip
    steps = sorted({r["timesteps"] for r in report["results"]})
    least = min([r["mean_steps_used"] for r in adaptive] + steps)
    used = sorted(set(steps) | {2**k for k in range(int(np.floor(np.log2(max(least, 1)))), int(np.log2(steps[-1])))})
    for axis, label, ticks in zip(axes[:2], ["timesteps T", "steps used per image (mean; fixed T: T)"],
                                  [steps, used]):  # fmt: skip
        axis.axhline(100 * report["ann"]["accuracy"], color="black", linestyle="--", linewidth=1, label="ANN")
        axis.set_xscale("log", base=2)
        axis.set_xticks(ticks, [str(t) for t in ticks])
        axis.minorticks_off()
        axis.set_xlabel(label)
        axis.set_ylabel("top-1 accuracy (%)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    if adaptive:
        axes[1].set_title("adaptive exits: accuracy against the steps they use", fontsize=9)
        _plot_steps_histogram(axes[2], adaptive)
    axes[0].set_title("accuracy against T", fontsize=9)
    figure.suptitle(f"{Path(report['model']).stem}: ANN and SNN ({', '.join(neurons)}) on {Path(report['data']).name}, "
                    f"{report['images']} images, target {report['target']}")  # fmt: skip
    save_figure(figure, path)


def _plot_steps_histogram(axes, rows: list[dict]) -> None:
    """Steps used per image, one outline per neuron model at its largest T."""
    from matplotlib.ticker import MaxNLocator

    for neuron in dict.fromkeys(r["neuron"] for r in rows):
        row = max((r for r in rows if r["neuron"] == neuron), key=lambda r: r["timesteps"])
        counts = row["steps_used_histogram"]
        axes.stairs(counts, np.arange(1, len(counts) + 2) - 0.5, label=f"{neuron}, T={row['timesteps']} "
                    f"(mean {row['mean_steps_used']:.1f}, p95 {row['p95_steps_used']:.0f})")  # fmt: skip
    bits = any(r["neuron"] == "ilif" for r in rows)
    axes.set_xlabel("steps used" + (" (iLIF: bits read)" if bits else ""))
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylabel("images")
    axes.set_title("adaptive exits: steps used per image", fontsize=9)
    axes.legend(fontsize=8)
