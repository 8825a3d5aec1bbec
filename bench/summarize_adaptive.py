"""Markdown tables for BENCHMARKS.md from bench/run_adaptive.sh's JSON results, and the plot of
accuracy against T for IF and MSAT.

    python bench/summarize_adaptive.py [--plot bench/results/msat_vs_if.png]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
MODELS = {"vgg": "VGG", "resnet": "ResNet"}


def load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() and path.stat().st_size else None


def accuracy_curves(key: str) -> tuple[float, dict, dict] | None:
    """(ANN accuracy, {T: IF row}, {T: MSAT row}) of one fixture on the full test set."""
    msat = load(f"{key}_msat_full")
    if msat is None:
        return None
    rows = {"if": {}, "msat": {}}
    for report in (load(f"{key}_if_full"), msat):
        assert report["images"] == msat["images"] and report["calibration"] == msat["calibration"]
        for row in report["results"]:
            rows[row["neuron"]][row["timesteps"]] = row
    return msat["ann"]["accuracy"], rows["if"], rows["msat"]


def first_within(rows: dict, ann: float, points: float = 1.0) -> int | None:
    """The smallest T whose accuracy is within `points` of the ANN's."""
    return min((t for t, row in rows.items() if 100 * (ann - row["accuracy"]) <= points), default=None)


def curve() -> str:
    lines = ["| model | T | IF accuracy % | MSAT accuracy % | MSAT − IF (points) | IF SOPs/image | MSAT SOPs/image |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    notes = []
    for key, label in MODELS.items():
        curves = accuracy_curves(key)
        if curves is None:
            continue
        ann, if_rows, msat_rows = curves
        lines.append(f"| {label} | ANN | {100 * ann:.2f} | | | | |")
        for steps in sorted(msat_rows):
            a, b = if_rows[steps], msat_rows[steps]
            lines.append(
                f"| {label} | {steps} | {100 * a['accuracy']:.2f} | {100 * b['accuracy']:.2f} | "
                f"{100 * (b['accuracy'] - a['accuracy']):+.2f} | {a['sops_per_image'] / 1e6:.1f} M | "
                f"{b['sops_per_image'] / 1e6:.1f} M |"
            )
        notes.append(f"{label}: within 1 point of the ANN from T = {first_within(if_rows, ann)} (IF), "
                     f"T = {first_within(msat_rows, ann)} (MSAT)")  # fmt: skip
    return "\n".join(lines + [""] + notes)


def plot(path: str) -> None:
    from snnc.plotting import pyplot, save_figure

    plt = pyplot()
    figure, axes = plt.subplots(1, len(MODELS), figsize=(10, 3.8), sharey=True)
    for axis, (key, label) in zip(axes, MODELS.items()):
        curves = accuracy_curves(key)
        if curves is None:
            continue
        ann, if_rows, msat_rows = curves
        for name, rows in (("IF", if_rows), ("MSAT", msat_rows)):
            steps = sorted(t for t in rows if t in msat_rows)
            axis.plot(steps, [100 * rows[t]["accuracy"] for t in steps], marker="o", label=name)
        axis.axhline(100 * ann, color="gray", linestyle="--", label="ANN")
        axis.axhline(100 * ann - 1, color="gray", linestyle=":", label="ANN − 1 point")
        axis.set_xscale("log", base=2)
        axis.set_xticks(sorted(msat_rows), [str(t) for t in sorted(msat_rows)])
        axis.set_xlabel("timesteps T")
        axis.set_title(f"{label}, Fashion-MNIST test set")
        axis.set_ylim(40, 100)
    axes[0].set_ylabel("accuracy %")
    axes[0].legend(loc="lower right")
    save_figure(figure, path)


def exits() -> str:
    lines = ["| model | neuron, T | step weights | fixed accuracy % | adaptive accuracy % | Δ (points) | "
             "avg steps (iLIF: bits read) | p95 | steps saved | latency, steps: fixed → adaptive | "
             "SOPs/image: fixed → adaptive |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for key, label in MODELS.items():
        for suffix in ("adaptive", "adaptive_plain", "adaptive_ilif"):
            report = load(f"{key}_{suffix}")
            if report is None:
                continue
            results = report["results"]
            for fixed, early in zip(results[::2], results[1::2]):
                steps = fixed["timesteps"]
                lines.append(
                    f"| {label} | {fixed['neuron']}, {steps} | {'yes' if early['exit']['step_weights'] else 'no'} | "
                    f"{100 * fixed['accuracy']:.2f} | {100 * early['accuracy']:.2f} | "
                    f"{100 * (early['accuracy'] - fixed['accuracy']):+.2f} | {early['avg_timesteps']:.2f} | "
                    f"{early['p95_timesteps']:.0f} | {100 * (1 - early['avg_timesteps'] / steps):.0f} % | "
                    f"{fixed['latency_steps']:.0f} → {early['latency_steps']:.1f} | "
                    f"{fixed['sops_per_image'] / 1e6:.1f} M → {early['sops_per_image'] / 1e6:.1f} M |"
                )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plot", help="write accuracy against T (IF, MSAT) to this PNG")
    args = parser.parse_args()
    print(curve())
    print()
    print(exits())
    if args.plot:
        plot(args.plot)
