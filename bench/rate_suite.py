"""Rate coding (and iLIF at T = 4) on the held-out architecture suite: the conversion settings
chosen on held-out training images, then measured on the test set.

    python bench/rate_suite.py choose [--images 2000]   # → bench/results/rate_choice.jsonl
    python bench/rate_suite.py test [--images 10000]    # → bench/results/rate_suite.jsonl
    python bench/rate_suite.py plot                     # → bench/results/rate_suite.png

Networks: examples/suite/*.onnx (examples/train_suite.py; trained on the first 55,000 training
images) and the two fixtures (trained on all 60,000). Data: the last 5,000 training images are
held out: the first 512 of them calibrate every network in both phases; `choose` evaluates
candidate settings on held-out images 1,000–2,999 (no fixture: they saw these images in
training), `test` the models' defaults (and the settings before this round, for comparison) on
the Fashion-MNIST test set. The ANN's accuracy comes from onnxruntime on the same images. Rows
are appended to the results file as they finish; a row already there is not run again.
`apt-get install dataset-fashion-mnist` first.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

import snnc
from snnc.datasets import fashion_mnist

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
HELD_OUT = 5_000
SUITE = sorted((ROOT / "examples" / "suite").glob("fmnist_*.onnx"))
FIXTURES = [ROOT / "examples" / f"fmnist_{name}.onnx" for name in ("vgg", "resnet")]
BEFORE = dict(thresholds="percentile", bias_correction=False)  # the defaults before this round (and per
# channel for iLIF only: see before())
# the candidates `choose` compares, per neuron model and T
CANDIDATES = {
    ("if", 32): [dict(per_channel=True), dict(thresholds="error", per_channel=True),
                 dict(per_channel=True, bias_correction=True),
                 dict(thresholds="error", per_channel=True, bias_correction=True),
                 dict(thresholds="error", per_channel=True, bias_correction=True, weight_correction=True)],
    ("msat", 32): [dict(per_channel=True), dict(thresholds="error", per_channel=True),
                   dict(thresholds="error", per_channel=True, bias_correction=True),
                   dict(thresholds="error", per_channel=True, bias_correction=True, weight_correction=True)],
    ("ilif", 4): [dict(thresholds="error"), dict(thresholds="error", per_channel=False)],
    ("ilif", 8): [dict(thresholds="error")],
}  # fmt: skip
# the test set: each model's defaults ({}), beside the settings before this round at T = 32 (and
# iLIF's error-minimizing thresholds at T = 4, which held-out images favoured there, not at T = 8)
TEST = [(("if", 32), [None, {}]), (("if", 64), [{}]), (("msat", 32), [None, {}]), (("msat", 64), [{}]),
        (("ilif", 4), [None, dict(thresholds="error")])]  # fmt: skip


def before(neuron: str) -> dict:
    """The settings every model had before this round, spelled out (defaults may change)."""
    return dict(BEFORE, per_channel=neuron == "ilif", percentile=99.95 if neuron == "ilif" else 99.9)


def held_out() -> tuple[np.ndarray, np.ndarray]:
    x, y = fashion_mnist("train")
    return x[-HELD_OUT:], y[-HELD_OUT:]


def ann_logits(model: Path, x: np.ndarray) -> np.ndarray:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: x[i : i + 500]})[0] for i in range(0, len(x), 500)])


def ann_accuracy(model: Path, x: np.ndarray, y: np.ndarray) -> float:
    return float((ann_logits(model, x).argmax(1) == y).mean() * 100)


def snn_row(model: Path, neuron: str, steps: int, settings: dict, calibration, x, y) -> dict:
    start = time.process_time()
    program = snnc.compile(model, neuron=neuron, timesteps=steps, calibration=calibration, **settings)
    compiled = time.process_time() - start
    result = program.run(x, threads=2)
    return dict(accuracy=float((result.logits.argmax(1) == y).mean() * 100), compile_cpu_s=round(compiled, 1),
                notes=program.notes.get("correct-bias", []) + program.notes.get("balance-thresholds", []))  # fmt: skip


def finished(path: Path, *fields: str) -> set[tuple]:
    """The rows a results file already holds, by the values of `fields`: a run resumes past them."""
    if not path.exists():
        return set()
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {tuple(row[field] for field in fields) for row in rows}


def append(path: Path, row: dict) -> None:
    with path.open("a") as out:
        out.write(json.dumps(row) + "\n")
    print(json.dumps(row), flush=True)


def run(phase: str, images: int) -> None:
    held_x, held_y = held_out()
    calibration = held_x[:512]
    if phase == "choose":
        x, y = held_x[1000 : 1000 + images], held_y[1000 : 1000 + images]
        networks, plan = SUITE, [(key, [before(key[0]), *CANDIDATES[key]]) for key in CANDIDATES]
        path = RESULTS / "rate_choice.jsonl"
    else:
        x, y = fashion_mnist("test")
        x, y = x[:images], y[:images]
        networks = SUITE + FIXTURES
        plan = [(key, [before(key[0]) if c is None else c for c in candidates]) for key, candidates in TEST]
        path = RESULTS / "rate_suite.jsonl"
    done = {key for (key,) in finished(path, "key")}
    for model in networks:
        ann = None
        for (neuron, steps), candidates in plan:
            for settings in candidates:
                key = f"{model.stem}|{neuron}|{steps}|{json.dumps(settings, sort_keys=True)}|{len(x)}"
                if key in done:
                    continue
                ann = ann if ann is not None else ann_accuracy(model, x, y)
                row = snn_row(model, neuron, steps, settings, calibration, x, y)
                label = "before" if settings == before(neuron) else "now"
                append(path, dict(key=key, network=model.stem, neuron=neuron, T=steps, settings=settings, label=label,
                                  images=len(x), ann=ann, **row))  # fmt: skip


def plot() -> None:
    """Each network's gap to its ANN, before and now, on the test set (bench/results/rate_suite.png;
    the table is bench/tables.py's)."""
    from snnc.plotting import pyplot, save_figure

    rows = [json.loads(line) for line in (RESULTS / "rate_suite.jsonl").read_text().splitlines() if line]
    table: dict[tuple, dict] = {}
    for row in rows:
        table.setdefault((row["network"], row["neuron"], row["T"]), {"ann": row["ann"]})[row["label"]] = row["accuracy"]
    plt = pyplot()
    figure, axes = plt.subplots(1, 3, figsize=(15, 4), sharey=True)
    for axis, (neuron, steps) in zip(axes, [("if", 32), ("msat", 32), ("ilif", 4)]):
        cells = {n: c for (n, m, t), c in table.items() if (m, t) == (neuron, steps) and "before" in c}
        names = [n.removeprefix("fmnist_") for n in cells]
        positions = np.arange(len(names))
        for offset, label in ((-0.2, "before"), (0.2, "now")):
            axis.bar(positions + offset, [c[label] - c["ann"] for c in cells.values()], 0.4, label=label)
        axis.set_xticks(positions, names, rotation=45, ha="right")
        axis.axhline(-1.0, color="grey", linestyle=":", linewidth=1)
        axis.set_title(f"{neuron} T={steps}")
    axes[0].set_ylabel("SNN − ANN accuracy (points)")
    axes[0].legend()
    figure.suptitle("Accuracy lost in conversion, Fashion-MNIST test set: thresholds and bias correction")
    save_figure(figure, RESULTS / "rate_suite.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("phase", choices=["choose", "test", "plot"])
    parser.add_argument("--images", type=int, default=None)
    args = parser.parse_args()
    if args.phase == "plot":
        plot()
    else:
        run(args.phase, args.images or (2000 if args.phase == "choose" else 10_000))


if __name__ == "__main__":
    main()
