"""Progress bars (tqdm) that stay silent when stderr is not a terminal or with --quiet."""

from __future__ import annotations

import sys


def progress(total: int, desc: str, quiet: bool = False, unit: str = "img"):
    from tqdm import tqdm  # deferred: start-up (--version, --help) does not need it

    return tqdm(total=total or None, desc=desc, unit=unit, disable=quiet or not sys.stderr.isatty(), leave=False)
