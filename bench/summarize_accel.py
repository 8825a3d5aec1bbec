"""Markdown tables from bench_accel.py's JSON lines.

python bench/summarize_accel.py bench/results/accel.jsonl [more.jsonl ...]
"""

from __future__ import annotations

import json
import sys


def rows(paths: list[str]) -> list[dict]:
    found = []
    for path in paths:
        with open(path) as handle:
            found += [json.loads(line) for line in handle if line.strip()]
    return found


def agreement(row: dict) -> str:
    """Which fixed-point engines the simulator matched image for image."""
    engines = (("identical_to_cpu_fixed_point", "cpu"), ("identical_to_fixed_point", "reference"))
    return ", ".join(f"{name} {'yes' if row[key] else 'NO'}" for key, name in engines if key in row)


def main() -> None:
    results = rows(sys.argv[1:])
    print("| fixture | neuron | T | exits | images | = fixed point | accuracy % (ANN) | avg steps | cycles/image "
          "| unpipelined | latency µs | streaming img/s | energy µJ | ANN µJ | SNN/ANN | sim SOPs/s |")  # fmt: skip
    print("| --- " * 16 + "|")
    for r in results:
        print(
            f"| {r['model'].removeprefix('fmnist_')} | {r['neuron']} | {r['T']} | {'yes' if r['adaptive'] else 'no'} "
            f"| {r['images']} | {agreement(r)} "
            f"| {100 * r['accuracy']:.2f} ({100 * r['ann_accuracy']:.2f}) | {r['avg_timesteps']:.2f} "
            f"| {r['cycles']:,.0f} | {r['cycles_unpipelined']:,.0f} | {r['latency_us']:,.0f} "
            f"| {r['images_per_s_streaming']:,.0f} | {r['energy_uj']:.1f} | {r['ann_energy_uj']:.1f} "
            f"| {r['snn_ann_energy_ratio']:.2f} | {r['sim_sops_per_s'] / 1e6:,.0f} M |"
        )
    print()
    print("Energy by kind (µJ per image):")
    print()
    kinds = sorted({k for r in results for k in r["energy_breakdown_uj"]})
    print("| fixture | neuron | T | exits | " + " | ".join(kinds) + " |")
    print("| --- " * (4 + len(kinds)) + "|")
    for r in results:
        values = " | ".join(f"{r['energy_breakdown_uj'].get(k, 0.0):.2f}" for k in kinds)
        print(f"| {r['model'].removeprefix('fmnist_')} | {r['neuron']} | {r['T']} | "
              f"{'yes' if r['adaptive'] else 'no'} | {values} |")  # fmt: skip


if __name__ == "__main__":
    main()
