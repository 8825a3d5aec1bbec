"""The `snnc` console command and `python -m snnc`: the CLI, imported behind a Ctrl-C guard.

This module imports nothing but `os` and `sys` (both loaded with the interpreter), so Ctrl-C
exits 130 without a traceback from the first milliseconds on; only Python's own start-up,
before any of snnc's code runs, is out of reach.
"""

import os
import sys

INTERRUPTED = 130  # snnc.errors.INTERRUPTED, which this module must not import


def main() -> int:
    try:
        from snnc.cli import main as cli_main

        code = cli_main()
    except KeyboardInterrupt:
        sys.stderr.write("snnc: interrupted\n")
        code = INTERRUPTED
    if code == INTERRUPTED:
        # Leave now. After an interrupt in the imports, the interpreter's shutdown sometimes ended
        # the process by SIGINT after all (about 1 in 30 interrupts in the first 0.3 s), which a
        # shell reports as a signal death, not as the documented 130.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(INTERRUPTED)
    return code
