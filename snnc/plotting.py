"""Matplotlib, loaded only when a plot is asked for; figures are written atomically as PNG."""

from __future__ import annotations

import io

from snnc.errors import UsageError


def pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise UsageError("plots need matplotlib: pip install 'snnc[plot]' (or matplotlib)") from exc
    return plt


def save_figure(figure, path) -> None:
    """Render to PNG in memory, then write atomically (an unwritable path is a FileError)."""
    from snnc.files import write_atomically

    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    finally:
        pyplot().close(figure)
    write_atomically(path, buffer.getvalue())


def plot_accel(summary: dict, cycles, path, title: str = "") -> None:
    """The accel simulator's figures: energy per image by kind, the SNN beside the same network
    as an ANN on the same chip, and the distribution of cycles per image; `title` names the
    program (network, neuron model, T)."""
    from matplotlib.ticker import MaxNLocator

    plt = pyplot()
    figure, (energy_axes, cycles_axes) = plt.subplots(1, 2, figsize=(11, 4))
    bottom = {"SNN": 0.0, "ANN": 0.0}
    kinds = sorted(set(summary["energy_breakdown_uj"]) | set(summary["ann_breakdown_uj"]))
    for kind in kinds:
        values = [summary["energy_breakdown_uj"].get(kind, 0.0), summary["ann_breakdown_uj"].get(kind, 0.0)]
        energy_axes.bar(["SNN", "ANN"], values, bottom=[bottom["SNN"], bottom["ANN"]], label=kind)
        bottom = {"SNN": bottom["SNN"] + values[0], "ANN": bottom["ANN"] + values[1]}
    energy_axes.set_ylabel("µJ per image")
    energy_axes.set_title(f"energy: SNN/ANN = {summary['snn_ann_energy_ratio']:.2f}", fontsize=9)
    energy_axes.legend(fontsize=7)
    cycles_axes.hist(cycles, bins=40)
    cycles_axes.set_xlabel("cycles per image (pipelined)")
    cycles_axes.set_ylabel("images")
    cycles_axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    figure.suptitle(f"{title}: energy and cycles per image on the accelerator" if title else
                    "energy and cycles per image on the accelerator")  # fmt: skip
    cycles_axes.set_title(f"mean {summary['cycles']:,.0f}, p95 {summary['cycles_p95']:,.0f} "
                          f"({summary['latency_us']:,.0f} µs mean)", fontsize=9)  # fmt: skip
    save_figure(figure, path)
