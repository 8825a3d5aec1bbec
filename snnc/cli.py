"""The `snnc` command line. Every error a user can cause exits with a code from snnc.errors."""

from __future__ import annotations

import argparse
import json
import sys

from snnc import __version__
from snnc.errors import EXIT_CODES, INTERNAL, OK, USAGE, DataError, SnncError


def parse_input_shapes(items: list[str] | None) -> dict[str, tuple[int, ...]]:
    """`name=1x3x224x224` → {"name": (1, 3, 224, 224)}."""
    shapes = {}
    for item in items or []:
        name, _, dims = item.rpartition("=")
        try:
            shape = tuple(int(d) for d in dims.lower().split("x"))
        except ValueError:
            shape = ()
        if not name or not shape or min(shape) < 1:
            raise DataError(f"--input-shape {item!r}: expected NAME=DIMxDIMx..., e.g. image=1x3x224x224")
        shapes[name] = shape
    return shapes


def cmd_inspect(args: argparse.Namespace) -> int:
    from snnc.frontend import import_onnx
    from snnc.inspection import inspect_graph, render_inspection
    from snnc.ir.text import print_graph

    graph = import_onnx(args.model, parse_input_shapes(args.input_shape))
    if args.ir:
        sys.stdout.write(print_graph(graph, elide_weights=not args.weights))
    elif args.json:
        print(json.dumps(inspect_graph(graph), indent=1))
    else:
        print(render_inspection(inspect_graph(graph)))
    return OK


def exit_code_help() -> str:
    lines = ["exit codes:"] + [f"  {code}  {meaning}" for code, meaning in EXIT_CODES.items()]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="snnc",
        description="Compile trained ReLU networks (ONNX) into spiking neural networks.",
        epilog=exit_code_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"snnc {__version__}")
    parser.add_argument("--debug", action="store_true", help="show a traceback on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    inspect = commands.add_parser("inspect", help="show a model's layers, shapes, parameters and MACs")
    inspect.add_argument("model", help="an ONNX file")
    inspect.add_argument("--json", action="store_true", help="print JSON for machines")
    inspect.add_argument("--ir", action="store_true", help="print the textual IR")
    inspect.add_argument("--weights", action="store_true", help="with --ir: print weights in full (parsable)")
    inspect.add_argument(
        "--input-shape", action="append", metavar="NAME=DIMS", help="fix an input's dynamic dims, e.g. x=1x3x32x32"
    )
    inspect.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    inspect.set_defaults(handler=cmd_inspect)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return USAGE
    try:
        return args.handler(args)
    except SnncError as exc:
        if args.debug:
            raise
        print(f"snnc: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("snnc: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return OK
    except Exception as exc:  # noqa: BLE001  (a bug: one line, unless --debug)
        if args.debug:
            raise
        print(
            f"snnc: internal error: {type(exc).__name__}: {exc} (rerun with --debug for a traceback)", file=sys.stderr
        )
        return INTERNAL


if __name__ == "__main__":
    sys.exit(main())
