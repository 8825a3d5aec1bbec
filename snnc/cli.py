"""The `snnc` command line. Every error a user can cause exits with a code from snnc.errors."""

from __future__ import annotations

import argparse
import io
import json
import sys
import warnings
from pathlib import Path

from snnc import __version__
from snnc.errors import DOES_NOT_FIT, EXIT_CODES, INTERNAL, INTERRUPTED, OK, USAGE, DataError, SnncError, UsageError
from snnc.plotting import pyplot


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


def csv(kind):
    def parse(text: str) -> list:
        try:
            return [kind(part) for part in text.split(",") if part]
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list: {text!r}") from exc

    return parse


PARSERS = {"float": float, "int": int, "str": str, "bool": "bool"}  # field annotations → value parsers


def parse_msat(text: str | None) -> dict | None:
    """`alpha=0.1,burst=2,units=normalized` → {"alpha": 0.1, "burst": 2, "units": "normalized"}."""
    if not text:
        return None
    import dataclasses

    from snnc.ir import MsatNeuron
    from snnc.passes.substitute_neurons import MSAT_KEYS

    annotations = {field.name: field.type for field in dataclasses.fields(MsatNeuron)}
    values = {}
    for item in text.split(","):
        key, _, raw = item.partition("=")
        key = key.strip()
        if key not in MSAT_KEYS:
            raise UsageError(f"--msat: unknown hyperparameter {key!r}; known: {', '.join(MSAT_KEYS)}")
        kind = PARSERS[annotations.get(key, "str")]  # "preset" is no field: a name
        try:
            if kind == "bool":
                if raw.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(raw)
                value = raw.lower() in ("true", "1")
            else:
                value = kind(raw)
        except ValueError:
            kind_name = getattr(kind, "__name__", kind)
            raise UsageError(f"--msat {item!r}: expected KEY=VALUE with a {kind_name} value") from None
        values[key] = value
    return values


def conversion_options(args: argparse.Namespace, sweep: bool = False) -> dict:
    """The conversion settings given on the command line (None: the default), by name; in a
    sweep (`eval`) the neuron model is an axis of its own."""
    from snnc.passes.settings import settings

    options = {name: getattr(args, name) for name in settings() if not (sweep and name == "neuron")}
    options["msat"] = parse_msat(options["msat"])
    return options


def compile_options(args: argparse.Namespace) -> dict:
    options = {"target": args.target, "timesteps": args.timesteps, **conversion_options(args)}
    if getattr(args, "config", None):
        from snnc.targets.accel import load_config

        options["chip"] = load_config(args.config)
    return options


def exit_options(args: argparse.Namespace) -> dict | None:
    """calibrate_exits() options when --adaptive is given (checked before any work)."""
    if not args.adaptive:
        return None
    from snnc.runtime.adaptive import check_budget

    check_budget(args.accuracy_budget)
    return {"budget": args.accuracy_budget, "metric": args.exit_metric, "step_weights": args.step_weights}


def cmd_compile(args: argparse.Namespace) -> int:
    from snnc.data import calibration_set
    from snnc.frontend import import_onnx
    from snnc.program import compile
    from snnc.report import render_report

    exits = exit_options(args)
    if exits is not None and args.calib is None:
        raise UsageError("--adaptive calibrates its exit threshold on --calib data: pass --calib")
    graph = import_onnx(args.model, parse_input_shapes(args.input_shape))
    calibration, labels = calibration_set(args.calib, graph.type(graph.inputs[0])) if args.calib else (None, None)
    passes = args.passes or None  # pass specs: name or name{key=value,...}
    after = set(args.print_ir_after.split(",")) if args.print_ir_after else None
    program = compile(graph, calibration=calibration, passes=passes, print_ir_after=after, **compile_options(args))
    if exits is not None:
        program.calibrate_exits(calibration, labels, **exits)
    output = Path(args.output or Path(args.model).with_suffix(".snnc").name)
    program.save(output)
    report = program.report()
    report["artifact"] = str(output)
    if program.settings.target == "accel":
        from snnc.files import write_atomically

        binary = output.with_suffix(".snnx")
        write_atomically(binary, program.accel_binary())
        report["program"] = str(binary)
    if args.json:
        print(json.dumps(report, indent=1, default=str))
    elif not args.quiet:
        print(render_report(report))
        print(f"wrote {output}" + (f" and {report['program']}" if "program" in report else ""))
    return OK


def optional_labels(labels, count: int, output_shape, source: str):
    """Labels for an accuracy line: none is fine, wrong ones are an error (exit 6)."""
    from snnc.data import check_labels

    if labels is None:
        return None
    classes = output_shape[0] if len(output_shape) == 1 else None
    return check_labels(labels, count, f"labels in {source!r}", classes)


def cmd_sim(args: argparse.Namespace) -> int:
    from snnc.data import check_data, load_arrays
    from snnc.ir.types import BATCH, TensorType
    from snnc.progress import progress
    from snnc.report import render_accel
    from snnc.targets.accel import load_config, read_program
    from snnc.targets.accel.simulator import program_config, simulate_accel, simulate_in_batches

    if args.batch < 1:
        raise UsageError(f"--batch must be at least 1, got {args.batch}")
    if args.plot:
        pyplot()  # a missing matplotlib is an error before the work, not after it
    program = read_program(args.program)
    config = load_config(args.config) if args.config else None
    program_config(program, config)  # the chip it was built for: checked before the work
    x, labels = load_arrays(args.input, "test", args.limit)
    x = check_data(x, TensorType((BATCH, *program.meta["input"]["shape"])), f"input {args.input!r}")
    labels = optional_labels(labels, len(x), program.meta["layers"][-1]["shape"], args.input)
    with progress(len(x), "sim", args.quiet) as bar:
        result = simulate_in_batches(lambda chunk: simulate_accel(program, chunk, config), x, args.batch, bar.update)
    summary = result.hardware.summary()
    summary["avg_timesteps"] = float(result.steps.mean())
    summary["spikes_per_image"] = sum(result.spikes.values()) / result.samples
    summary["sops_per_image"] = sum(result.sops.values()) / result.samples
    predictions = result.logits.argmax(axis=1)
    if labels is not None:
        summary["accuracy"] = float((predictions == labels).mean())
    if args.plot:
        from snnc.plotting import plot_accel

        plot_accel(summary, result.hardware.cycles, args.plot)
    if args.json:
        print(json.dumps({**summary, "predictions": predictions.tolist()}, indent=1))
    elif not args.quiet:
        print("\n".join(render_accel(summary)))
        print(f"{summary['images']} images, {summary['avg_timesteps']:.2f} steps, "
              f"{summary['sops_per_image']:,.0f} SOPs and {summary['spikes_per_image']:,.0f} spikes per image"
              + (f"; accuracy {100 * summary['accuracy']:.2f}%" if "accuracy" in summary else ""))  # fmt: skip
        if args.plot:
            print(f"wrote {args.plot}")
    return OK


def cmd_check(args: argparse.Namespace) -> int:
    """Compile for the accelerator and report whether it fits; JSON for CI with --json."""
    from snnc.data import calibration_set
    from snnc.errors import ResourceError, SnncError
    from snnc.frontend import import_onnx
    from snnc.program import compile
    from snnc.targets.accel import decode_program, encode_program

    if args.target != "accel":
        raise UsageError("snnc check verifies accelerator programs: pass -t accel")
    report: dict = {"model": args.model, "fits": False}
    try:
        graph = import_onnx(args.model, parse_input_shapes(args.input_shape))
        calibration = calibration_set(args.calib, graph.type(graph.inputs[0]))[0] if args.calib else None
        program = compile(graph, calibration=calibration, **compile_options(args))
        build = program.accel()
        binary = encode_program(build.program)
        decode_program(binary)  # the program verifies: it decodes back, every reference in range
        report.update(fits=True, cores=len(build.slices), chip_cores=build.config.cores, program_bytes=len(binary),
                      slots=build.program.meta["slots"], layers=build.resources())  # fmt: skip
    except SnncError as exc:
        report.update(error=str(exc), exit_code=exc.exit_code,
                      resource_error=isinstance(exc, ResourceError))  # fmt: skip
        if not args.json or args.debug:
            raise
        print(json.dumps(report, indent=1))
        print(f"snnc: error: {exc}", file=sys.stderr)  # the JSON for machines, the line for people and logs
        return exc.exit_code
    if args.json:
        print(json.dumps(report, indent=1))
    elif not args.quiet:
        rows = [[r["layer"], r["cores"], f"{r['weight_bytes']:,}/{r['weight_capacity']:,}",
                 f"{r['state_words']:,}/{r['state_capacity']:,}", f"{r['state_bits_needed']}/{r['state_bits']}"]
                for r in report["layers"]]  # fmt: skip
        from snnc.inspection import format_table

        print(format_table(["layer", "cores", "weight bytes/core", "state words/core", "state bits"], rows, {1}))
        print(f"fits: {report['cores']} of {report['chip_cores']} cores, program {report['program_bytes']:,} bytes, "
              f"{report['slots']} slots")  # fmt: skip
    return OK


def cmd_run(args: argparse.Namespace) -> int:
    import numpy as np

    from snnc.data import check_data, load_arrays
    from snnc.evaluate import run_with_progress
    from snnc.files import write_atomically
    from snnc.program import load
    from snnc.report import render_report

    program = load(args.artifact, trust_native=args.trust_native)
    x, labels = load_arrays(args.input, "test", args.limit)
    graph = program.graph
    x = check_data(x, graph.type(graph.inputs[0]), f"input {args.input!r}")
    labels = optional_labels(labels, len(x), graph.type(graph.outputs[0]).sample_shape, args.input)
    record = args.record.split(",") if args.record else ()
    engine = {"float": "native", "fixed": "native-fixed"}.get(args.numeric)
    result = run_with_progress(program, x, args.timesteps, "run", args.quiet, threads=args.threads, record=record,
                               engine=engine)  # fmt: skip
    report = program.report(result)
    predictions = result.logits.argmax(axis=1)
    if labels is not None:
        report["accuracy"] = float((predictions == labels).mean())
    if args.output:
        buffer = io.BytesIO()
        trains = {f"spikes/{name}": train for name, train in result.records.items()}
        np.savez(buffer, logits=result.logits, predictions=predictions, steps=result.steps, **trains)
        write_atomically(Path(args.output), buffer.getvalue())
    if args.json:
        report.update(predictions=predictions.tolist(), steps=result.steps.tolist(), logits=result.logits.tolist())
        print(json.dumps(report, indent=1, default=str))
    else:
        print(render_report(report))
        shown = ", ".join(str(p) for p in predictions[:20])
        print(f"predictions: {shown}{' ...' if len(predictions) > 20 else ''}")
        if "accuracy" in report:
            print(f"accuracy against the labels in {args.input}: {100 * report['accuracy']:.2f}%")
    return OK


def cmd_eval(args: argparse.Namespace) -> int:
    from snnc.evaluate import evaluate, plot_evaluation, render_evaluation

    if args.plot:
        pyplot()  # a missing matplotlib is an error before the work, not after it
    report = evaluate(
        args.model, args.data, args.neuron, args.timesteps, args.calib, args.limit, args.target,
        conversion_options(args, sweep=True), exit_options(args), args.quiet, args.threads, args.numeric,
    )  # fmt: skip
    if args.plot:
        plot_evaluation(report, args.plot)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(render_evaluation(report))
        if args.plot:
            print(f"wrote {args.plot}")
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

    compile_cmd = commands.add_parser("compile", help="convert to an SNN and write a .snnc program (default command)")
    compile_cmd.add_argument("model", help="an ONNX file")
    compile_cmd.add_argument("-o", "--output", help="the .snnc file to write (default: MODEL's name, here)")
    add_conversion_options(compile_cmd, many=False)
    compile_cmd.add_argument("--passes", metavar="SPECS", help="comma-separated passes, each `name` or "
                             "`name{key=value,...}` (default: the whole conversion pipeline)")  # fmt: skip
    compile_cmd.add_argument("--print-ir-after", metavar="PASS", help="print the IR after these passes ('all')")
    compile_cmd.add_argument("--config", metavar="CHIP.toml", help="accel: chip configuration (docs/accel.md)")
    compile_cmd.set_defaults(handler=cmd_compile)

    check = commands.add_parser("check", help="accel: compile, verify the fit and the program, report (for CI)")
    check.add_argument("model", help="an ONNX file")
    add_conversion_options(check, many=False)
    check.add_argument("--config", metavar="CHIP.toml", help="chip configuration (docs/accel.md)")
    check.set_defaults(handler=cmd_check, target="accel")

    sim = commands.add_parser("sim", help="run an accelerator program (.snnx) in the cycle and energy simulator")
    sim.add_argument("program", help="a .snnx file from snnc compile -t accel")
    sim.add_argument("--input", required=True, help="a .npz with array 'x' (and 'y' for accuracy), or a dataset")
    sim.add_argument("--limit", type=int, help="use the first N inputs")
    sim.add_argument("--batch", type=int, default=64, help="images simulated at once (default 64)")
    sim.add_argument("--config", metavar="CHIP.toml", help="the chip to run on; must be the one compiled for")
    sim.add_argument("--plot", metavar="OUT.png", help="plot energy by kind (SNN and ANN) and cycles per image")
    add_common_options(sim)
    sim.set_defaults(handler=cmd_sim)

    run = commands.add_parser("run", help="run a compiled .snnc program on inputs")
    run.add_argument("artifact", help="a .snnc file from snnc compile")
    run.add_argument("--input", required=True, help="a .npz with array 'x', or a dataset name")
    run.add_argument("-T", "--timesteps", type=int, help="override the compiled T")
    run.add_argument("--limit", type=int, help="use the first N inputs")
    run.add_argument("--output", help="write logits, predictions, steps (and recorded spikes) to this .npz")
    run.add_argument("--record", metavar="LAYERS", help="comma-separated neuron layers whose spike trains "
                     "(N, T, ...) go to --output as 'spikes/LAYER'")  # fmt: skip
    run.add_argument("--threads", type=int, help="worker threads (default: all cores)")
    run.add_argument("--trust-native", action="store_true", help="run the object code stored in the artifact "
                     "instead of compiling its IR here: only for artifacts you trust like an executable")  # fmt: skip
    run.add_argument("--numeric", choices=["float", "fixed"], help="native code in float32, or in fixed point "
                     "(int8 weights, integer state: the accel target's numbers, bit-exact with its simulator); "
                     "default: the program's target (cpu: float; accel: its simulator)")  # fmt: skip
    add_common_options(run)
    run.set_defaults(handler=cmd_run)

    ev = commands.add_parser("eval", help="accuracy of the ANN and its SNNs over neuron models and T")
    ev.add_argument("model", help="an ONNX file")
    ev.add_argument("--data", required=True, help="a .npz with 'x' and 'y', or a dataset: fashion-mnist, digits")
    ev.add_argument("--limit", type=int, help="use the first N images")
    ev.add_argument("--plot", metavar="OUT.png", help="plot accuracy against T")
    add_conversion_options(ev, many=True)
    ev.set_defaults(handler=cmd_eval)
    return parser


def add_common_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--json", action="store_true", help="print JSON for machines")
    sub.add_argument("-q", "--quiet", action="store_true", help="no progress bars or summaries")
    sub.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)


def add_conversion_options(sub: argparse.ArgumentParser, many: bool) -> None:
    if many:
        sub.add_argument("-t", "--target", choices=["cpu", "accel", "reference"], default="cpu",
                         help="cpu: native code; reference: the numpy simulator (the oracle)")  # fmt: skip
        sub.add_argument("--threads", type=int, help="worker threads for the cpu target (default: all cores)")
        sub.add_argument("--numeric", choices=["float", "fixed"], default="float",
                         help="cpu, reference: float32, or the integer network the accel target runs")  # fmt: skip
        sub.add_argument("--neuron", type=csv(str), default=["ilif", "if"], help="neuron models (default ilif,if)")
        sub.add_argument("-T", "--timesteps", type=csv(int), default=[4, 8, 16, 32], help="default 4,8,16,32")
    else:
        sub.add_argument("-t", "--target", choices=["cpu", "accel"], default="cpu")
        sub.add_argument("-T", "--timesteps", type=int, default=8)
    sub.add_argument("--calib", help="calibration data: a .npz with 'x', or a dataset name (its training images)")
    add_setting_options(sub, sweep=many)
    sub.add_argument("--adaptive", action="store_true", help="stop each input at its first confident step")
    sub.add_argument("--exit-metric", choices=["max-softmax", "entropy"], default="max-softmax")
    sub.add_argument(
        "--accuracy-budget",
        type=float,
        default=0.5,
        metavar="B",
        help="adaptive: accuracy points the exits may lose on the calibration data (default 0.5)",
    )
    sub.add_argument(
        "--step-weights",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="adaptive: fit per-step readout weights (default: on for if and msat)",
    )
    sub.add_argument("--input-shape", action="append", metavar="NAME=DIMS", help=argparse.SUPPRESS)
    add_common_options(sub)


def add_setting_options(sub: argparse.ArgumentParser, sweep: bool) -> None:
    """One option per conversion setting, derived from its declaration on a pass's options
    (passes/settings.py): --name-with-dashes, its type, choices and help; booleans as
    --x/--no-x; unset means the default (None: the neuron model's)."""
    from snnc.passes.settings import settings

    for item in settings().values():
        if sweep and item.name == "neuron":
            continue  # eval's neuron models are a list
        flag = "--" + (item.flag or item.name).replace("_", "-")
        if item.type is bool:
            sub.add_argument(flag, dest=item.name, action=argparse.BooleanOptionalAction, default=None,
                             help=item.help)  # fmt: skip
        else:
            kind = str if item.type is dict else item.type  # a table arrives as KEY=VALUE,... (parse_msat)
            sub.add_argument(flag, dest=item.name, type=kind, choices=item.choices, metavar=item.metavar,
                             default=None, help=item.help)  # fmt: skip


COMMANDS = ("inspect", "compile", "run", "eval", "check", "sim")


def _warning_printer(quiet: bool):
    def show(message, category, filename, lineno, file=None, line=None) -> None:
        if not quiet:
            print(f"snnc: warning: {message}", file=sys.stderr)

    return show


def main(argv: list[str] | None = None) -> int:
    """The CLI; returns the exit code. Ctrl-C at any moment, the imports included, exits 130."""
    debug = False
    try:
        parser = build_parser()
        argv = sys.argv[1:] if argv is None else list(argv)
        if argv and not argv[0].startswith("-") and argv[0] not in COMMANDS:
            argv = ["compile", *argv]  # `snnc model.onnx -t accel` is `snnc compile ...`
        args = parser.parse_args(argv)
        debug = args.debug
        if args.command is None:
            parser.print_help(sys.stderr)
            return USAGE
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = _warning_printer(getattr(args, "quiet", False))
            return args.handler(args)
    except SnncError as exc:
        if debug:
            raise
        print(f"snnc: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("snnc: interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:
        return OK
    except MemoryError:
        if debug:
            raise
        print("snnc: error: out of memory (lower --batch or --limit, or set SNNC_MEMORY_LIMIT)", file=sys.stderr)
        return DOES_NOT_FIT
    except Exception as exc:  # noqa: BLE001  (a bug: one line, unless --debug)
        if debug:
            raise
        print(
            f"snnc: internal error: {type(exc).__name__}: {exc} (rerun with --debug for a traceback)", file=sys.stderr
        )
        return INTERNAL


if __name__ == "__main__":
    sys.exit(main())
