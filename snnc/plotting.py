"""Matplotlib, loaded only when a plot is asked for; figures are written atomically as PNG."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

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
    from snnc.program import give_default_permissions

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".png", dir=path.parent)
    os.close(handle)
    try:
        figure.savefig(temporary, dpi=120, bbox_inches="tight")
        give_default_permissions(temporary)
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)
        pyplot().close(figure)
