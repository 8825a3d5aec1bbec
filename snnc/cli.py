"""The `snnc` command line. Every error a user can cause exits with a code from snnc.errors."""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
import warnings
from pathlib import Path

from snnc.cli_options import (
    COMMANDS,
    build_parser,
    compile_options,
    conversion_options,
    exit_options,
    parse_input_shapes,
)
from snnc.errors import DOES_NOT_FIT, INTERNAL, INTERRUPTED, OK, USAGE, SnncError, UsageError
from snnc.plotting import pyplot


def cmd_inspect(args: argparse.Namespace) -> int:
    from snnc.inspection import inspect_graph, render_inspection
    from snnc.ir.text import print_graph
    from snnc.program import load_network

    graph = load_network(args.model, parse_input_shapes(args.input_shape))
    if args.ir:
        sys.stdout.write(print_graph(graph, elide_weights=not args.weights))
    elif args.json:
        print(json.dumps(inspect_graph(graph), indent=1))
    else:
        print(render_inspection(inspect_graph(graph)))
    return OK


def cmd_compile(args: argparse.Namespace) -> int:
    from snnc.data import calibration_set
    from snnc.program import compile, is_spiking, load_network
    from snnc.report import render_report
    from snnc.timing import recording

    exits = exit_options(args)
    options = compile_options(args)
    to_nir = options["target"] == "nir"
    if to_nir:
        options = nir_options(args, options)
    elif args.nir_flavor:
        raise UsageError("--nir-flavor shapes a NIR export: give it with -t nir")
    passes = args.passes or None  # pass specs: name or name{key=value,...}
    after = set(args.print_ir_after.split(",")) if args.print_ir_after else None
    suffix = ".nir" if to_nir else ".snnc"
    output = Path(args.output or Path(args.model).with_suffix(suffix).name)
    with recording(show=not (args.quiet or args.json)) as stages:
        graph = load_network(args.model, parse_input_shapes(args.input_shape), reset=options.get("reset"))
        if not is_spiking(graph):  # a NIR import needs no calibration: its thresholds are given
            check_calibration(args)
        if exits is not None and args.calib is None:
            raise UsageError("--adaptive calibrates its exit threshold on --calib data: pass --calib")
        calibration, labels = calibration_set(args.calib, graph.type(graph.inputs[0])) if args.calib else (None, None)
        program = compile(graph, calibration=calibration, passes=passes, print_ir_after=after, **options)
        if exits is not None:
            program.calibrate_exits(calibration, labels, **exits)
        if to_nir:
            nir_notes = program.write_nir(output, args.nir_flavor or "nir")
        else:
            program.save(output)
    report = program.report()
    report["stages"] = stages.table()
    report["artifact"] = str(output)
    if to_nir:
        report["nir"] = nir_notes
    if program.settings.target == "accel":
        from snnc.files import write_atomically

        binary = output.with_suffix(".snnx")
        write_atomically(binary, program.accel_binary())
        report["program"] = str(binary)
    if args.json:
        print(json.dumps(report, indent=1, default=str))
    elif not args.quiet:
        print(render_report(report))
        for note in report.get("nir", []):
            print(f"[nir] {note}")
        print(f"wrote {output}" + (f" and {report['program']}" if "program" in report else ""))
    return OK


def nir_options(args: argparse.Namespace, options: dict) -> dict:
    """-t nir: the cpu target's conversion in the form NIR (and the flavor's importer) can say,
    where the command line does not choose otherwise (the export refuses what NIR cannot say)."""
    from snnc.targets.nir.flavors import nir_conversion

    if args.adaptive:
        raise UsageError("-t nir: NIR has no early exits; leave out --adaptive")
    given = {k: v for k, v in options.items() if v is not None}
    return {**options, **nir_conversion(args.nir_flavor or "nir"), **given, "target": "cpu"}


def check_calibration(args: argparse.Namespace) -> None:
    """Calibration data, or the explicit opt-out: before any work."""
    from snnc.program import NO_CALIBRATION

    if args.calib is None and not args.data_free:
        raise UsageError(NO_CALIBRATION)
    if args.calib is not None and args.data_free:
        raise UsageError("--data-free and --calib: give one of them")


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
    from snnc.report import render_accel, speed
    from snnc.targets.accel import load_config, read_program
    from snnc.targets.accel.simulator import program_config, simulate_accel, simulate_in_batches

    if args.batch < 1:
        raise UsageError(f"--batch must be at least 1, got {args.batch}")
    if args.plot:
        pyplot()  # a missing matplotlib is an error before the work, not after it
    program = read_program(args.program)
    config = load_config(args.config) if args.config else None
    program_config(program, config)  # the chip it was built for: checked before the work
    x, labels = load_arrays(args.data, "test", args.limit)
    x = check_data(x, TensorType((BATCH, *program.meta["input"]["shape"])), f"data {args.data!r}")
    labels = optional_labels(labels, len(x), program.meta["layers"][-1]["shape"], args.data)
    began = time.perf_counter()
    with progress(len(x), "sim", args.quiet) as bar:
        result = simulate_in_batches(lambda chunk: simulate_accel(program, chunk, config), x, args.batch, bar.update)
    summary = result.hardware.summary()
    summary["simulator_speed"] = speed(len(x), time.perf_counter() - began, None)
    summary["mean_latency_steps"] = float(result.steps.mean())
    summary["spikes_per_image"] = sum(result.spikes.values()) / result.samples
    summary["sops_per_image"] = sum(result.sops.values()) / result.samples
    predictions = result.logits.argmax(axis=1)
    if labels is not None:
        summary["accuracy"] = float((predictions == labels).mean())
    if args.plot:
        from snnc.plotting import plot_accel

        title = f"{Path(args.program).stem} ({program.meta['model']}, T={program.meta['timesteps']})"
        plot_accel(summary, result.hardware.cycles, args.plot, title)
    if args.json:
        print(json.dumps({**summary, "predictions": predictions.tolist()}, indent=1))
    elif not args.quiet:
        print("\n".join(render_accel(summary)))
        print(f"{summary['images']} images, latency {summary['mean_latency_steps']:.2f} steps on average, "
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

    check_calibration(args)
    report: dict = {"model": args.model, "fits": False}
    try:
        graph = import_onnx(args.model, parse_input_shapes(args.input_shape))
        calibration = calibration_set(args.calib, graph.type(graph.inputs[0]))[0] if args.calib else None
        program = compile(graph, calibration=calibration, **compile_options(args))
        build = program.accel()
        binary = encode_program(build.program)
        decode_program(binary)  # the program verifies: it decodes back, every reference in range
        report.update(fits=True, cores=len(build.slices), chip_cores=build.config.cores, program_bytes=len(binary),
                      slots=build.program.meta["slots"], layers=build.resources(), plan=build.plan())  # fmt: skip
    except SnncError as exc:
        report.update(error=str(exc), exit_code=exc.exit_code,
                      resource_error=isinstance(exc, ResourceError))  # fmt: skip
        demand = getattr(exc, "layers", None)
        if demand:
            report["demand"] = demand
            if not args.json and not args.quiet:  # what each layer asks, before the error line
                print(_demand_table(demand))
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
        plan = report["plan"]
        if len(plan["segments"]) > 1:
            print(_plan_table(plan))
        print(f"fits: {report['cores']} core slices on {report['chip_cores']} cores in {len(plan['segments'])} "
              f"segment(s), program {report['program_bytes']:,} bytes, {report['slots']} slots")  # fmt: skip
    return OK


def _plan_table(plan: dict) -> str:
    """A network in segments: each segment's layers, cores and weights; the DRAM traffic per image."""
    from snnc.inspection import format_table

    rows = [[number, s["chip"], f"{s['first_layer']} .. {s['last_layer']}", s["layers"], s["cores"],
             f"{s['weight_bytes']:,}"] for number, s in enumerate(plan["segments"])]  # fmt: skip
    moved = plan["off_chip_bytes_per_image"]
    table = format_table(["segment", "chip", "layers", "count", "cores", "weight bytes"], rows, {0, 1, 3, 4, 5})
    return (f"{table}\noff-chip per image: {moved['weight_bytes']:,.0f} weight bytes (a swap serves "
            f"{plan['swap_batch']} images), {moved['event_bytes_written']:,} event bytes written, "
            f"{moved['event_bytes_read']:,} read; {moved['link_bytes']:,} bytes over the links between "
            "chips")  # fmt: skip


def _demand_table(demand: list[dict]) -> str:
    """A model that does not fit: per layer, the cores it needs and one channel against a core."""
    from snnc.inspection import format_table

    rows = [[r["layer"], r["channels"], "-" if r["cores"] is None else r["cores"],
             f"{r['one_channel_weight_bytes']:,}/{r['weight_capacity']:,}",
             f"{r['one_channel_state_words']:,}/{r['state_capacity']:,}", f"{r['state_bits_needed']}/{r['state_bits']}",
             "does not fit" if r["cores"] is None else ""] for r in demand]  # fmt: skip
    headers = ["layer", "channels", "cores", "one channel: weight bytes", "state words", "state bits", ""]
    total = sum(r["cores"] or 0 for r in demand)
    return format_table(headers, rows, {1, 2}) + f"\n{total} cores for the layers that fit one channel per core"


def cmd_run(args: argparse.Namespace) -> int:
    import numpy as np

    from snnc.data import check_data, load_arrays
    from snnc.files import write_atomically
    from snnc.program import load
    from snnc.report import render_report, speed
    from snnc.runners import run_with_progress

    program = load(args.artifact, trust_native=args.trust_native)
    x, labels = load_arrays(args.data, "test", args.limit)
    graph = program.graph
    x = check_data(x, graph.type(graph.inputs[0]), f"data {args.data!r}")
    labels = optional_labels(labels, len(x), graph.type(graph.outputs[0]).sample_shape, args.data)
    record = args.record.split(",") if args.record else ()
    engine = {"float": "native", "fixed": "native-fixed"}.get(args.numeric)
    result, wall = run_with_progress(program, x, args.timesteps, "run", args.quiet, threads=args.threads,
                                     record=record, engine=engine)  # fmt: skip
    report = program.report(result)
    report["speed"] = speed(len(x), wall, args.threads)
    predictions = result.logits.argmax(axis=1)
    if labels is not None:
        report["accuracy"] = float((predictions == labels).mean())
    if args.output:
        buffer = io.BytesIO()
        trains = {f"spikes/{name.lstrip('/')}": train for name, train in result.records.items()}
        np.savez(buffer, logits=result.logits, predictions=predictions, steps=result.steps, **trains)
        write_atomically(Path(args.output), buffer.getvalue())
    if args.json:
        report.update(predictions=predictions.tolist(), steps=result.steps.tolist(), logits=result.logits.tolist())
        print(json.dumps(report, indent=1, default=str))
    elif not args.quiet:  # the compile log stays with compile: `snnc run --json` has it, as "notes"
        print(render_report(report, notes=False))
        shown = ", ".join(str(p) for p in predictions[:20])
        print(f"predictions: {shown}{' ...' if len(predictions) > 20 else ''}")
        rate = report["speed"]["images_per_s"]
        print(f"{len(x)} images in {wall:.2f} s" + (f": {rate:,.0f} images/s" if rate else ""))
        if "accuracy" in report:
            print(f"accuracy against the labels in {args.data}: {100 * report['accuracy']:.2f}%")
    return OK


def cmd_eval(args: argparse.Namespace) -> int:
    from snnc.evaluate import evaluate, plot_evaluation, render_evaluation

    if args.plot:
        pyplot()  # a missing matplotlib is an error before the work, not after it
    report = evaluate(
        args.model, args.data, args.neuron, args.timesteps, args.calib, args.limit, args.target,
        conversion_options(args, sweep=True), exit_options(args), args.quiet, args.threads, args.numeric,
        args.data_free, args.cluster, args.workers, args.per_image,
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


def cmd_zoo(args: argparse.Namespace) -> int:
    from snnc import zoo
    from snnc.files import write_atomically

    if args.list or args.name is None:
        rows = [{"name": name, "parameters": zoo.parameters(name)} for name in zoo.names()]
        if args.json:
            print(json.dumps(rows, indent=1))
        else:
            print("\n".join(f"{r['name']:18s} {r['parameters']:>13,} parameters" for r in rows))
        return OK
    output = Path(args.output or f"{args.name}.onnx")
    model = zoo.build(args.name, args.seed, args.opset)
    write_atomically(output, model.SerializeToString())
    if args.json:
        print(json.dumps({"model": args.name, "output": str(output), "parameters": zoo.parameters(args.name)}))
    elif not args.quiet:
        print(f"wrote {output} ({args.name}, {zoo.parameters(args.name):,} parameters, seed {args.seed})")
    return OK


HANDLERS = {"inspect": cmd_inspect, "compile": cmd_compile, "check": cmd_check, "sim": cmd_sim, "run": cmd_run,
            "eval": cmd_eval, "zoo": cmd_zoo}  # fmt: skip


def _warning_printer(quiet: bool):
    def show(message, category, filename, lineno, file=None, line=None) -> None:
        if not quiet:
            print(f"snnc: warning: {message}", file=sys.stderr)

    return show


class _Interrupts:
    """Whether Ctrl-C came: an interrupt inside a C extension's initialization reaches Python as
    an ImportError ("initialization failed"), and one inside a callback is ignored, not raised."""

    seen = False

    @classmethod
    def handler(cls, signum, frame) -> None:
        cls.seen = True
        raise KeyboardInterrupt

    @staticmethod
    def unraisable(info) -> None:
        """Python ignores an exception raised where it cannot propagate (an import lock's weakref
        callback, a finalizer) and prints its traceback; an interrupt there is still an interrupt."""
        if not isinstance(info.exc_value, KeyboardInterrupt):
            sys.__unraisablehook__(info)


def main(argv: list[str] | None = None) -> int:
    """The CLI; returns the exit code. Ctrl-C at any moment, the imports included, exits 130."""
    import signal
    import threading

    watching = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, _Interrupts.handler) if watching else None
    previous_hook, sys.unraisablehook = sys.unraisablehook, _Interrupts.unraisable
    _Interrupts.seen = False
    try:
        code = _main(argv)
        if _Interrupts.seen and code != INTERRUPTED:  # the interrupt was swallowed where Python ignores errors
            print("snnc: interrupted", file=sys.stderr)
            return INTERRUPTED
        return code
    finally:
        sys.unraisablehook = previous_hook
        if watching:
            signal.signal(signal.SIGINT, previous)


def _main(argv: list[str] | None) -> int:
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
            return HANDLERS[args.handler](args)
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
        if _Interrupts.seen:  # the interrupt, surfacing as another exception
            print("snnc: interrupted", file=sys.stderr)
            return INTERRUPTED
        if debug:
            raise
        print(
            f"snnc: internal error: {type(exc).__name__}: {exc} (rerun with --debug for a traceback)", file=sys.stderr
        )
        return INTERNAL


if __name__ == "__main__":
    sys.exit(main())
