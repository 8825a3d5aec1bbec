"""Progress bars (tqdm) that stay silent when stderr is not a terminal or with --quiet."""

from __future__ import annotations

import sys

from tqdm import tqdm


def progress(total: int, desc: str, quiet: bool = False) -> tqdm:
    return tqdm(total=total, desc=desc, unit="img", disable=quiet or not sys.stderr.isatty(), leave=False)
