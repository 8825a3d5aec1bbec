"""The benchmark document's tables, each rendered from its result files in bench/results/.

One function per table: it takes the results folder and returns Markdown. Nothing here runs a
benchmark or imports snnc; bench/docs.py puts the tables in order, with what each measures and
the command that made it.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path

# Pretty names for the networks the results name by file stem or zoo name.
NETWORKS = {
    "fmnist_vgg": "VGG fixture", "fmnist_resnet": "ResNet fixture", "vgg": "VGG fixture",
    "resnet": "ResNet fixture", "cifar-resnet20": "CIFAR ResNet-20", "cifar-resnet18": "CIFAR ResNet-18",
    "cifar-vgg16": "CIFAR VGG-16", "cifar-mobilenetv2": "CIFAR MobileNetV2", "resnet18": "ImageNet ResNet-18",
    "resnet50": "ImageNet ResNet-50", "vgg16": "ImageNet VGG-16", "mobilenetv2": "ImageNet MobileNetV2",
}  # fmt: skip
NEURONS = {"ilif": "iLIF", "if": "IF", "msat": "MSAT"}
# Issue 24's targets for JIT time ÷ onnxruntime's ANN time, by (neuron, batch).
RATIO_TARGETS = {("ilif", 64): 1.0, ("ilif", 1): 1.5, ("if", 64): 5.0, ("msat", 64): 10.0}


def load(results: Path, name: str):
    """A results file: a JSON document, or a list of the rows of a JSON-lines file."""
    text = (results / name).read_text()
    if name.endswith(".jsonl"):
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return json.loads(text)


def table(header: Sequence[str], rows: Iterable[Sequence], right: int = 1) -> str:
    """A Markdown table; columns from index `right` on are right-aligned (they hold numbers)."""
    align = ["---" if i < right else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def network(name: str) -> str:
    return NETWORKS.get(name, name.removeprefix("fmnist_"))


def neuron(name: str, steps: int | None = None) -> str:
    return NEURONS.get(name, name) + ("" if steps is None else f" {steps}")


def mega(count: float) -> str:
    return f"{count / 1e6:.1f} M" if count < 1e9 else f"{count / 1e9:.2f} G"


def met(value: float, bound: float) -> str:
    """An upper-bound target and whether `value` meets it."""
    return f"≤ {bound:g}: " + ("met" if value <= bound else "not met")


# ---- import and the reference ---------------------------------------------------------------


def imports(results: Path) -> str:
    rows = []
    for row in load(results, "import.jsonl"):
        snnc, ort = row["median"]["snnc"], row["median"]["onnxruntime"]
        ratio = row["snnc/onnxruntime"]
        rows.append([row["model"], row["batch"], f"{snnc['total_s']:.2f} (import {snnc['load_s']:.2f})",
                     f"{ort['total_s']:.2f}", f"**{ratio['total_s']:.2f}**", f"{snnc['peak_mib']:.0f}",
                     f"{ort['peak_mib']:.0f}", f"**{ratio['peak_mib']:.2f}**"])  # fmt: skip
    header = ["model", "batch", "snnc: import + execute (s)", "onnxruntime: session + run (s)", "time ratio",
              "snnc peak (MiB)", "onnxruntime peak (MiB)", "memory ratio"]  # fmt: skip
    return table(header, rows)


# ---- accuracy -------------------------------------------------------------------------------


def fixture_curves(results: Path) -> str:
    parts = []
    for name in ("fixture_vgg", "fixture_resnet"):
        run = load(results, f"{name}.json")
        ann = run["ann"]["accuracy"] * 100
        rows = [["ANN (onnxruntime)", "", f"{ann:.2f}", "", "", "", ""]]
        for r in run["results"]:
            rows.append([neuron(r["neuron"]), r["timesteps"], f"{r['accuracy'] * 100:.2f}",
                         f"{r['accuracy'] * 100 - ann:+.2f}", f"{r['agreement'] * 100:.2f}",
                         f"{r['mean_latency_steps']:.0f}", mega(r["sops_per_image"])])  # fmt: skip
        name_text = network(Path(run["model"]).stem)
        title = f"**{name_text}**, {run['images']:,} test images"
        reasons: dict[tuple, list] = {}
        for s in run["skipped"]:
            reasons.setdefault((s["neuron"], s["reason"]), []).append(str(s["timesteps"]))
        skipped = "".join(f"\n\nNot run: {neuron(m)} at T = {', '.join(ts)} ({why})."
                          for (m, why), ts in reasons.items())  # fmt: skip
        header = ["neuron", "T", "accuracy %", "Δ vs ANN", "agreement %", "latency (steps)", "SOPs / image"]
        plot = f"![{name_text}: accuracy against T](../bench/results/{name}.png)"
        parts.append(f"{title}\n\n{table(header, rows)}{skipped}\n\n{plot}")
    return "\n\n".join(parts)


def settings_label(settings: dict, model: str) -> str:
    """A conversion's settings as the choice table names them. A setting a row leaves out was the
    model's default when it ran: issue 26's "before" (bench/rate_suite.py's before())."""
    full = dict(thresholds="percentile", per_channel=model == "ilif", bias_correction=False,
                percentile=99.95 if model == "ilif" else 99.9) | settings  # fmt: skip
    words = ["error" if full["thresholds"] == "error" else f"p{full['percentile']:g}"]
    words.append("per channel" if full["per_channel"] else "per layer")
    if full["bias_correction"]:
        words.append("+ bias correction")
    if full.get("weight_correction"):
        words.append("+ weight refit")
    return ", ".join(words)


def rate_choice(results: Path) -> str:
    rows = load(results, "rate_choice.jsonl")
    networks = sorted({r["network"] for r in rows})
    cells: dict[tuple, dict] = {}
    ann: dict[str, float] = {}
    for r in rows:
        ann[r["network"]] = r["ann"]
        key = (neuron(r["neuron"], r["T"]), settings_label(r["settings"], r["neuron"]))
        cells.setdefault(key, {})[r["network"]] = r["accuracy"]
    lines = [["ANN", "", *(f"{ann[n]:.2f}" for n in networks), f"{statistics.mean(ann.values()):.2f}"]]
    for (config, label), accuracy in sorted(cells.items(), key=lambda item: item[0][0]):
        values = [accuracy.get(n) for n in networks]
        mean = f"{statistics.mean(values):.2f}" if None not in values else ""
        lines.append([config, label, *("" if v is None else f"{v:.2f}" for v in values), mean])
    header = ["neuron, T", "settings", *(n.removeprefix("fmnist_") for n in networks), "mean"]
    return table(header, lines, right=2)


def rate_suite(results: Path) -> str:
    cells: dict[tuple, dict] = {}
    for r in load(results, "rate_suite.jsonl"):
        cells.setdefault((r["network"], r["neuron"], r["T"]), {"ann": r["ann"]})[r["label"]] = r["accuracy"]
    lines = []
    for (name, model, steps), cell in sorted(cells.items(), key=lambda item: (item[0][2], item[0])):
        before = f"{cell['before']:.2f}" if "before" in cell else ""
        lines.append([network(name), neuron(model, steps), f"{cell['ann']:.2f}", before, f"{cell['now']:.2f}",
                      f"{cell['now'] - cell['ann']:+.2f}"])  # fmt: skip
    header = ["network", "neuron, T", "ANN %", "before %", "now %", "now − ANN"]
    now = {key: cell["now"] - cell["ann"] for key, cell in cells.items()}
    targets = [("IF within 1 point of the ANN at T = 32", "if", 32, 1.0), ("IF within 0.3 at T = 64", "if", 64, 0.3),
               ("iLIF within 1 at T = 4", "ilif", 4, 1.0)]  # fmt: skip
    summary = []
    for text, model, steps, points in targets:
        gaps = [gap for (_, m, t), gap in now.items() if (m, t) == (model, steps)]
        summary.append(f"- {text}: {sum(g >= -points for g in gaps)} of {len(gaps)} networks.")
    for steps in sorted({t for (_, m, t) in now if m == "msat"}):
        pairs = [(cells[(n, "msat", t)]["now"], cells[(n, "if", t)]["now"]) for (n, m, t) in now
                 if (m, t) == ("msat", steps) and (n, "if", t) in cells]  # fmt: skip
        behind = ", ".join(f"{i - m:.2f}" for m, i in pairs if m < i)
        count = sum(m >= i for m, i in pairs)
        summary.append(f"- MSAT at least as accurate as IF at T = {steps}: {count} of {len(pairs)} networks"
                       + (f" (behind by {behind} points)" if behind else "") + ".")  # fmt: skip
    plot = "![Accuracy lost in conversion](../bench/results/rate_suite.png)"
    return table(header, lines, right=2) + "\n\n" + "\n".join(summary) + "\n\n" + plot


def msat_vs_if(results: Path) -> str:
    rows = load(results, "msat_vs_if.jsonl")
    lines = [[network(r["network"]), r["T"], f"{r['ann']:.2f}", f"{r['if']:.2f}", f"{r['msat']:.2f}",
              f"{r['if_agreement']:.2f}", f"{r['msat_agreement']:.2f}", r["only_if_right"], r["only_msat_right"],
              f"{r['mcnemar_p']:.2f}"] for r in rows]  # fmt: skip
    header = ["network", "T", "ANN %", "IF %", "MSAT %", "IF agrees with the ANN %", "MSAT agrees %",
              "only IF right", "only MSAT right", "McNemar p"]  # fmt: skip
    behind = [r for r in rows if r["msat"] < r["if"]]
    agrees = sum(r["msat_agreement"] >= r["if_agreement"] for r in rows)
    least_p = f", smallest McNemar p {min(r['mcnemar_p'] for r in behind):.2f}" if behind else ""
    summary = [f"- MSAT agrees with the ANN at least as often as IF: {agrees} of {len(rows)} pairs.",
               f"- MSAT less accurate than IF: {len(behind)} of {len(rows)} pairs{least_p}."]  # fmt: skip
    return table(header, lines, right=1) + "\n\n" + "\n".join(summary)


def rate_exits(results: Path) -> str:
    lines = []
    for r in load(results, "rate_exits.jsonl"):
        ok = r["fewer_steps"] >= 50 and r["lost"] <= 0.5
        lines.append([network(r["network"]), neuron(r["neuron"], r["T"]), f"{r['fixed']:.2f}",
                      f"{r['adaptive']:.2f}", f"{-r['lost']:+.2f}", f"{r['mean_steps']:.1f}",
                      f"{r['fewer_steps']:.1f} %", "met" if ok else "not met"])  # fmt: skip
    header = ["network", "neuron, T", "fixed T %", "adaptive %", "lost", "mean steps", "fewer steps",
              "≥ 50 % fewer for ≤ 0.5 lost"]  # fmt: skip
    return table(header, lines, right=2)


def exit_rules(results: Path) -> str:
    rows = load(results, "exit_rules.jsonl")
    rules = [key for key in rows[0] if " z=" in key]
    lines = []
    for r in rows:
        cells = [f"{r[k]['measured on']['lost']:+.2f} / {r[k]['measured on']['fewer_steps']:.1f} %" for k in rules]
        lines.append([network(r["network"]), neuron(r["neuron"], r["T"]), *cells])
    header = ["network", "neuron, T", *(f"{k}: lost / fewer steps" for k in rules)]
    summary = []
    for k in rules:
        held = sum(r[k]["measured on"]["lost"] <= 0.5 and r[k]["measured on"]["fewer_steps"] >= 50 for r in rows)
        mean_saved = statistics.mean(r[k]["measured on"]["fewer_steps"] for r in rows)
        worst = max(r[k]["measured on"]["lost"] for r in rows)
        summary.append(f"- {k}: ≥ 50 % fewer steps for ≤ 0.5 points lost on {held} of {len(rows)}; "
                       f"{mean_saved:.1f} % fewer steps on average; at worst {worst:+.2f} points lost.")  # fmt: skip
    return table(header, lines, right=2) + "\n\n" + "\n".join(summary)


# ---- the cpu target -------------------------------------------------------------------------


def cpu_engines(results: Path) -> str:
    parts = []
    for name, label in (("cpu.jsonl", "float32 against runtime/snn.py"),
                        ("cpu_fixed.jsonl", "fixed point against runtime/fixed.py")):  # fmt: skip
        lines = []
        for r in load(results, name):
            for batch in (1, 64):
                b = r[f"batch{batch}"]
                lines.append([network(r["model"]), neuron(r["neuron"], r["timesteps"]), batch,
                              f"{b['jit_images_per_s']:,.1f}", f"{b['reference_images_per_s']:,.1f}",
                              f"**{b['jit_over_reference_speedup']:.1f}×**",
                              f"{r['compile_s']:.2f} s" if batch == 1 else "",
                              f"{r['cached_compile_s']:.3f} s" if batch == 1 else "",
                              f"{r['peak_mib_after_run']:,.0f}" if batch == 1 else ""])  # fmt: skip
        header = ["network", "neuron, T", "batch", "JIT img/s", "reference img/s", "JIT ÷ reference",
                  "native build", "from the cache", "peak RSS (MiB)"]  # fmt: skip
        parts.append(f"**{label}**\n\n" + table(header, lines, right=2))
    return "\n\n".join(parts)


def ratios(results: Path) -> str:
    run = load(results, "ratios.json")
    lines = []
    for r in run["rows"]:
        target = RATIO_TARGETS.get((r["neuron"], r["batch"]))
        engine = "fixed" if r["engine"] == "native-fixed" else "float"
        accuracy = f"{r['accuracy'] * 100:.2f}" if r.get("accuracy") is not None else ""
        lines.append([network(r["network"]), neuron(r["neuron"], r["T"]), r["batch"], engine,
                      f"{r['jit_ms_per_image']:.3f}", f"{r['ann_ms_per_image']:.3f}", f"**{r['jit_over_ann']:.2f}**",
                      met(r["jit_over_ann"], target) if target else "", accuracy])  # fmt: skip
    header = ["network", "neuron, T", "batch", "engine", "JIT ms / image", "ANN ms / image", "JIT ÷ ANN",
              "target", "accuracy %"]  # fmt: skip
    return table(header, lines, right=2)


def bounds(results: Path) -> str:
    run = load(results, "bounds.json")
    rate_lines = [[r["table_kib"], f"{r['random_gsops']:.1f}", f"{r['sorted_gsops']:.1f}"] for r in run["event_adds"]]
    rate_header = ["weight table (KiB)", "random rows (G SOPs / s)", "rows in order by 16 (G SOPs / s)"]
    network_lines = []
    for r in run["networks"]:
        target = RATIO_TARGETS[(r["neuron"], r["batch"])]
        network_lines.append([network(r["network"]), neuron(r["neuron"], r["T"]), f"**{r['jit_over_ann']:.2f}**",
                              f"{r['synapse_share'] * 100:.0f} %", f"{r['synapse_gsops']:.1f}",
                              f"{r['bound_l2']:.2f}", f"{r['bound_blocked']:.2f}", f"{r['bound_l1']:.2f}",
                              f"{r['floor_l1']:.2f}",
                              f"{r['sops_over_macs']:.2f}", f"≤ {target:g}"])  # fmt: skip
    network_header = ["network", "neuron, T", "now", "synapses' share", "synapses (G SOPs / s)",
                      "synapses at L2's rate", "blocked into L1", "at L1's rate", "L1's rate, nothing else",
                      "SOPs ÷ ANN MACs",
                      "target"]  # fmt: skip
    layer_lines = [[network(r["network"]), neuron(r["neuron"], r["T"]), layer["layer"], f"{layer['weight_kib']:,.0f}",
                    mega(layer["sops_per_image"]), f"{layer['gsops']:.1f}"]
                   for r in run["networks"] for layer in r["layers"]]  # fmt: skip
    layer_header = ["network", "neuron, T", "layer", "weights (KiB)", "SOPs / image", "G SOPs / s"]
    blocked_lines = [[r["events_per_pixel"], f"{r['gsops']:.1f}"] for r in run["blocked_adds"]]
    blocked_header = ["events per pixel", "G SOPs / s"]
    plot = "![Event adds against the weights' size, and the fixtures' layers](../bench/results/bounds.png)"
    return "\n\n".join([
        "Event adds (the microkernel), one thread:\n\n" + table(rate_header, rate_lines),
        f"Weights blocked into L1 ({run['blocked_kib']} KiB), each pixel's 9 output windows loaded and stored around "
        "its events:\n\n" + table(blocked_header, blocked_lines),
        f"JIT time ÷ onnxruntime's (batch 64, one thread): now, and with the synapses at the rate of a table in L2 "
        f"({run['l2_gsops']:.1f} G SOPs / s), blocked into L1 ({run['blocked_gsops']:.1f}) or in L1 "
        f"({run['l1_gsops']:.1f}), the rest as measured:\n\n"
        + table(network_header, network_lines, right=2),
        plot,
        "Each event-driven layer's rate now:\n\n" + table(layer_header, layer_lines, right=3),
    ])  # fmt: skip


def winograd(results: Path) -> str:
    run = load(results, "winograd.json")
    layer_lines = [[network(r["network"]), f"{r['C']} → {r['O']}", f"{r['OH']}×{r['OW']}", r["tiles"],
                    f"{r['direct_cycles'] / 1e3:,.0f}", f"{r['winograd_cycles'] / 1e3:,.0f}", f"**{r['ratio']:.2f}**",
                    "yes" if r["chosen"] else "no"] for r in run["layers"]]  # fmt: skip
    layer_header = ["network", "channels", "output", "tiles", "direct (k cycles / image)",
                    "Winograd (k cycles / image)", "Winograd ÷ direct", "chosen"]  # fmt: skip
    forms = list(run["networks"][0]["ms_per_image"])
    network_lines = [[network(r["network"]), r["batch"], *(f"{r['ms_per_image'][form]:.3f}" for form in forms),
                      f"**{r['all_over_direct']:.2f}**"] for r in run["networks"]]  # fmt: skip
    network_header = ["network", "batch", *(f"{form} (ms / image)" for form in forms), "default ÷ direct"]
    result_lines = []
    for r in run["results"]:
        accuracy, reference = r["accuracy"], r["reference_predictions_differ"]
        result_lines.append([network(r["network"]),
                             f"{accuracy['direct'] * 100:.2f} / {accuracy['winograd'] * 100:.2f}",
                             f"{r['predictions_differ']} of {r['images']:,}",
                             f"{reference['direct']} / {reference['winograd']}", f"{r['spikes_relative_change']:+.1e}",
                             f"{r['sops_relative_change']:+.1e}", f"{r['largest_logit_difference']:.3f}",
                             "identical" if r["bits_at_once_identical"] else "differ"])  # fmt: skip
    result_header = ["fixture", "accuracy % (direct / Winograd)", "predictions that differ",
                     "differ from the reference (direct / Winograd)", "spikes, relative change",
                     "SOPs, relative change", "largest logit difference", "bits at once against the steps"]  # fmt: skip
    return "\n\n".join([
        f"Layers (every 3×3 stride-1 convolution; chosen: at least {run['min_channels']} channels in and out and "
        f"{run['min_tiles']} tiles):\n\n" + table(layer_header, layer_lines, right=3),
        "Networks (iLIF T = 8, one thread; \"direct\": no Winograd, the bits step by step):\n\n"
        + table(network_header, network_lines, right=1),
        "Results on the full test set (iLIF T = 8):\n\n" + table(result_header, result_lines, right=1),
    ])  # fmt: skip


def suite(results: Path) -> str:
    run = load(results, "suite.json")
    lines = []
    for r in run["rows"]:
        lines.append([network(r["network"]), mega(r["macs_per_image"]), f"{r['first_compile_cpu_s']:.1f}",
                      f"{r['first_compile_peak_mib']:,}", f"{r['cached_compile_cpu_s']:.1f}", r["batch"],
                      f"{r['jit_images_per_s']:,.1f}", f"{r['ann_images_per_s']:,.1f}", f"{r['jit_over_ann']:.2f}",
                      f"{r['top1_agreement'] * 100:.0f} %"])  # fmt: skip
    header = ["network", "MACs / image", "first compile (CPU s)", "peak RSS (MiB)", "cached compile (CPU s)",
              "batch", "JIT img/s", "ANN img/s", "JIT ÷ ANN", "top-1 agreement"]  # fmt: skip
    rows = {r["network"]: r for r in run["rows"]}
    targets = []
    for name, seconds in (("resnet50", 60), ("mobilenetv2", 30)):
        r = rows[name]
        targets.append(f"- {network(name)}: first compile {r['first_compile_cpu_s']:.1f} CPU s "
                       f"({met(r['first_compile_cpu_s'], seconds)}), peak RSS {r['first_compile_peak_mib']:,} MiB "
                       f"({met(r['first_compile_peak_mib'], 2048)}).")  # fmt: skip
    cached = rows["resnet50"]["cached_compile_cpu_s"]
    targets.append(f"- ImageNet ResNet-50: cached compile {cached:.1f} CPU s ({met(cached, 5)}).")
    return table(header, lines) + "\n\nIssue 24's targets:\n" + "\n".join(targets)


def calibration_engines(results: Path) -> str:
    run = load(results, "calibration_engines.json")
    lines = []
    for r in run["rows"]:
        seconds, accuracy = r["calibration_cpu_s"], r["accuracy"]
        lines.append([network(r["fixture"]), neuron(r["neuron"], r["T"]), f"{r['max_threshold_change']:.1e}",
                      f"{seconds['onnxruntime']:.1f} / {seconds['reference']:.1f}",
                      f"{accuracy['onnxruntime'] * 100:.2f} / {accuracy['reference'] * 100:.2f}",
                      f"{r['predictions_differ'] * run['test_images']:.0f}",
                      f"{r['spikes_relative_change']:+.0e}"])  # fmt: skip
    header = ["fixture", "neuron, T", "largest threshold change", "calibration CPU s (onnxruntime / reference)",
              "accuracy % (onnxruntime / reference)", "predictions that differ", "spikes, relative change"]  # fmt: skip
    return table(header, lines, right=2)


def opt_level(results: Path) -> str:
    rows = load(results, "opt_level.jsonl")
    levels = sorted({r["level"] for r in rows})
    by_config: dict[tuple, dict] = {}
    for r in rows:
        by_config.setdefault((r["network"], neuron(r["neuron"], r["T"])), {})[r["level"]] = r
    lines = []
    for (name, config), cells in by_config.items():
        compile_s = " / ".join(f"{cells[level]['compile_cpu_s']:.2f}" for level in levels)
        run_s = " / ".join(f"{cells[level]['run_cpu_s']:.3f}" for level in levels)
        lines.append([network(name), config, compile_s, run_s])
    levels_text = " / ".join(map(str, levels))
    header = ["network", "neuron, T", f"compile CPU s, levels {levels_text}", f"run CPU s, levels {levels_text}"]
    return table(header, lines, right=2)


# ---- the accelerator ------------------------------------------------------------------------


def accel_fixtures(results: Path) -> str:
    run = load(results, "accel_dataflow.json")
    kinds = list(dict.fromkeys(k for r in run["rows"] for k in r.get("energy_breakdown_uj", {})))
    lines = []
    for r in run["rows"]:
        config = [network(r["network"]), neuron(r["neuron"], r["T"])]
        if "error" in r:
            lines.append(config + [f"does not compile: {r['error']}"] + [""] * (5 + len(kinds)))
            continue
        lines.append(config + [f"{r['accuracy'] * 100:.2f}", mega(r["cycles"]), f"{r['energy_uj']:,.1f}",
                               f"{r['ann_energy_uj']:,.1f}", f"**{r['snn_ann_energy_ratio']:.2f}**"]
                     + [f"{r['energy_breakdown_uj'].get(k, 0.0):,.1f}" for k in kinds])  # fmt: skip
    header = ["network", "neuron, T", "accuracy %", "cycles / image", "µJ / image", "ANN µJ, same chip",
              "SNN / ANN", *(k.replace("_", " ") for k in kinds)]  # fmt: skip
    return table(header, lines, right=2)


def accel_suite(results: Path) -> str:
    lines = []
    for r in load(results, "accel_suite.json")["rows"]:
        if r["exit_code"] != 0:
            lines.append([network(r["network"]), f"exit {r['exit_code']}"] + [""] * 11)
            continue
        state = r["energy_breakdown_uj"]["state_sram"] / r["energy_uj"]
        exact = "yes" if r["bit_exact_with_native_fixed"] else "no"
        lines.append([network(r["network"]), f"{r['cores']:,}", r["segments"],
                      f"{r['off_chip_bytes_per_image'] / 1e6:.2f} MB", exact, mega(r["cycles"]),
                      f"{r['latency_us'] / 1000:.1f} ms", f"{r['images_per_s_streaming']:,.1f}",
                      f"{r['energy_uj'] / 1000:.2f} mJ", f"{r['ann_energy_uj'] / 1000:.2f} mJ",
                      f"**{r['snn_ann_energy_ratio']:.2f}**", f"{state * 100:.0f} %",
                      f"{r['cpu_s']:.1f} s"])  # fmt: skip
    header = ["network", "core slices", "segments", "off-chip / image", "bit-exact", "cycles", "latency",
              "images/s", "energy", "ANN, same chip", "SNN / ANN", "state SRAM share", "CPU"]  # fmt: skip
    return table(header, lines)


def accel_chips(results: Path) -> str:
    lines = []
    for r in load(results, "accel_chips.json")["rows"]:
        lines.append([r["chips"], r["objective"], r["segments"], f"{r['dram_bytes'] / 1e3:,.0f} kB",
                      f"{r['link_bytes'] / 1e3:,.0f} kB", f"{r['latency_us'] / 1000:.1f} ms",
                      f"{r['images_per_s_streaming']:,.0f}", f"{r['energy_uj'] / 1000:.2f} mJ",
                      f"{r['dram_uj']:.1f} µJ", f"{r['link_uj']:.1f} µJ", f"{r['static_uj'] / 1000:.2f} mJ",
                      f"{r['snn_ann_energy_ratio']:.2f}"])  # fmt: skip
    header = ["chips", "objective", "segments", "DRAM / image", "link / image", "latency", "images/s", "energy",
              "DRAM", "link", "static", "SNN / ANN"]  # fmt: skip
    return table(header, lines, right=2)


# ---- trust ----------------------------------------------------------------------------------

EXITS = ("exit 0", "exit 2", "exit 3", "exit 4", "exit 5", "exit 6", "exit 7", "exit 8")


def fuzz(results: Path) -> str:
    run = load(results, "fuzz.json")
    lines = []
    for kind, counts in run["by_kind"].items():
        other = sum(n for verdict, n in counts.items() if verdict not in EXITS)
        lines.append([kind, f"{sum(counts.values()):,}", *(f"{counts.get(e, 0):,}" for e in EXITS), other])
    totals = run["by_exit"]
    lines.append(["**all**", f"**{run['cases']:,}**", *(f"**{totals.get(e, 0):,}**" for e in EXITS),
                  f"**{run['exit_1'] + run['crashes'] + run['hangs']}**"])  # fmt: skip
    header = ["input", "cases", *(e.removeprefix("exit ") for e in EXITS), "exit 1, crash or hang"]
    summary = (f"Exit 1: {run['exit_1']}; crashes: {run['crashes']}; hangs: {run['hangs']}; tracebacks: "
               f"{run['tracebacks']}; cases with any problem: {run['problem_cases']} of {run['cases']:,} "
               f"({run['seconds']:.0f} s on 2 cores).")  # fmt: skip
    return table(header, lines) + "\n\n" + summary


# ---- interop ---------------------------------------------------------------------------------


def short(note: str) -> str:
    """An export note without its explanation (docs/interop.md has them)."""
    return note.split(" (")[0].split(":")[0]


def nir_interop(results: Path) -> str:
    run = load(results, "nir_interop.json")
    rows = []
    for fixture, base in run["baselines"].items():
        rows.append([network(fixture), "(not exported)", "snnc -t cpu, default IF", f"{base['snnc_default_if']:.2f}",
                     "", "", "", f"ANN: {base['ann']:.2f} %"])  # fmt: skip
        for row in (r for r in run["rows"] if r["fixture"] == fixture):
            reader = "snnc import, -t cpu" if row["flavor"] == "nir" else row["importer"].split(".")[0]
            if "refused" in row:
                rows.append([network(fixture), row["flavor"], reader, f"{row['export_form_accuracy']:.2f}", "",
                             "", "", "refused: " + row["refused"].split(": ", 1)[1]])  # fmt: skip
                continue
            changes = "; ".join(map(short, row["changes"]))
            rows.append([network(fixture), row["flavor"], reader, f"{row['export_form_accuracy']:.2f}",
                         f"{row['importer_accuracy']:.2f}", f"**{row['agreement']:.2f}**",
                         f"{row['spikes_relative_difference']:+.1e}", changes])  # fmt: skip
    header = ["network", "--nir-flavor", "read and run by", "snnc %", "importer %", "predictions as the reference's %",
              "spikes, relative to the reference", "what the export changed"]  # fmt: skip
    made = run["library_made"]
    summary = [f"A network built and exported by Sinabs ({made['network']}; {made['images']} random images, "
               f"T = {made['timesteps']}), compiled by snnc, against Sinabs' own simulation:"]  # fmt: skip
    for engine, figures in made["against_sinabs"].items():
        summary.append(f"- {engine}: predictions as Sinabs' on {figures['agreement']:.0f} %, largest output "
                       f"difference {figures['max_abs_difference']:.2g}")  # fmt: skip
    return table(header, rows) + "\n\n" + "\n".join(summary)


def zero_reset(results: Path) -> str:
    run = load(results, "zero_reset.json")
    rows = [[network(r["network"]), f"{r['ann']:.2f}", f"{r['assumes_subtraction']:.2f}", f"{r['knows_reset']:.2f}",
             f"**{r['knows_reset'] - r['assumes_subtraction']:+.2f}**"] for r in run["rows"]]  # fmt: skip
    gains = [r["knows_reset"] - r["assumes_subtraction"] for r in run["rows"]]
    header = ["network", "ANN %", "error model assumes subtraction %", "error model knows the reset %", "change"]
    summary = (
        f"Mean change {sum(gains) / len(gains):+.2f} points; better on {sum(g > 0 for g in gains)} of "
        f"{len(gains)} networks ({run['images']:,} held-out images, T = {run['timesteps']})."
    )
    return table(header, rows) + "\n\n" + summary


def cluster_sweep(results: Path) -> str:
    run = load(results, "cluster_sweep.json")
    single, spread = run["single"], run["cluster"]
    identical = "identical" if all(run["identical"]) else "**different**"
    header = ["", "wall s", "simulating s", "calibrating s (workers)", "tasks", "tasks run again",
              "other s per task"]  # fmt: skip
    rows = [["one process, one thread", f"{single['wall_s']:.1f}", f"{single['run_s']:.1f}", "", "", "", ""],
            [f"Ray, {spread['workers']} workers of one thread", f"{spread['wall_s']:.1f}",
             f"{spread['worker_run_s']:.1f}", f"{spread['worker_calibration_s']:.1f}", f"{spread['tasks']}",
             f"{spread['retried_tasks']}", f"{spread['other_s_per_task']:.3f}"]]  # fmt: skip
    per_row = [[network(r["fixture"]), r["neuron"], r["T"], f"{100 * r['accuracy']:.2f}", f"{r['single_run_s']:.1f}",
                f"{r['cluster_worker_s']:.1f}"] for r in run["rows"]]  # fmt: skip
    summary = (f"{run['images']:,} test images, {len(run['rows'])} configurations: the two reports are {identical} "
               f"but for their timings (every row's accuracy, agreement, steps, spike and SOP counts, and its "
               f"per-image predictions and steps). Speed-up {run['speedup']:.2f}×.")  # fmt: skip
    rows_header = ["network", "neuron", "T", "accuracy %", "one process: s", "cluster: worker s"]
    return table(header, rows) + "\n\n" + summary + "\n\n" + table(rows_header, per_row)


def cluster_projection(results: Path) -> str:
    run = load(results, "cluster_projection.json")
    header = ["neuron", "T", "driver compile s (d)", "worker build s (k)", "s per image (t)"]
    rows = [[r["neuron"], r["T"], f"{r['compile_s']:.1f}", f"{r['build_s']:.1f}", f"{r['s_per_image']:.3f}"]
            for r in run["configurations"]]  # fmt: skip
    projection = [[p["workers"], f"{p['hours']:.2f}"] for p in run["projection"]]
    summary = (f"{run['images']:,} images × {len(run['configurations'])} configurations on {run['network']}, "
               f"shards of {run['shard']}, o = {run['overhead_s_per_task']:.3f} s per task; one process: "
               f"{run['single_process_hours']:.1f} hours.")  # fmt: skip
    return table(header, rows) + "\n\n" + summary + "\n\n" + table(["workers N", "projected hours W(N)"], projection)
