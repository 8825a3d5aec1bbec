"""The `snnc` console command and `python -m snnc`: the CLI, imported behind a Ctrl-C guard.

This module imports nothing but `sys`, so Ctrl-C exits 130 without a traceback from the first
milliseconds on; only Python's own start-up, before any of snnc's code runs, is out of reach.
"""

import sys


def main() -> int:
    try:
        from snnc.cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("snnc: interrupted\n")
        return 130
    return cli_main()
