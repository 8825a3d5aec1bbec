"""Markdown tables for BENCHMARKS.md from bench/run_adaptive.sh's JSON results.

python bench/summarize_adaptive.py
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
MODELS = {"vgg": "VGG", "resnet": "ResNet"}


def load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() and path.stat().st_size else None


def curve() -> str:
    lines = ["| model | T | IF accuracy % | MSAT accuracy % | MSAT − IF (points) | IF SOPs/image | MSAT SOPs/image |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for key, label in MODELS.items():
        report = load(f"{key}_msat_vs_if")
        if report is None:
            continue
        lines.append(f"| {label} | ANN | {100 * report['ann']['accuracy']:.2f} | | | | |")
        rows = {(r["neuron"], r["timesteps"]): r for r in report["results"]}
        for steps in sorted({t for _, t in rows}):
            a, b = rows[("if", steps)], rows[("msat", steps)]
            lines.append(
                f"| {label} | {steps} | {100 * a['accuracy']:.2f} | {100 * b['accuracy']:.2f} | "
                f"{100 * (b['accuracy'] - a['accuracy']):+.2f} | {a['sops_per_image'] / 1e6:.1f} M | "
                f"{b['sops_per_image'] / 1e6:.1f} M |"
            )
    return "\n".join(lines)


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
    print(curve())
    print()
    print(exits())
