"""The command line's grammar: the parser, its options (the conversion settings' are derived from
their declarations on the passes, passes/settings.py) and the parsing of their values."""

from __future__ import annotations

import argparse

from snnc import __version__
from snnc.errors import EXIT_CODES, DataError, UsageError


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
    options = {"target": args.target, "timesteps": args.timesteps, "data_free": args.data_free,
               **conversion_options(args)}  # fmt: skip
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


def nir_flavors() -> list[str]:
    from snnc.targets.nir.flavors import FLAVORS

    return list(FLAVORS)


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
    inspect.add_argument("model", help="an ONNX file, or a NIR graph (.nir)")
    inspect.add_argument("--json", action="store_true", help="print JSON for machines")
    inspect.add_argument("--ir", action="store_true", help="print the textual IR")
    inspect.add_argument("--weights", action="store_true", help="with --ir: print weights in full (parsable)")
    inspect.add_argument(
        "--input-shape", action="append", metavar="NAME=DIMS", help="fix an input's dynamic dims, e.g. x=1x3x32x32"
    )
    inspect.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    inspect.set_defaults(handler="inspect")

    compile_cmd = commands.add_parser("compile", help="convert to an SNN and write a .snnc program (default command)")
    compile_cmd.add_argument("model", help="an ONNX file, or a NIR graph (.nir) of IF neurons")
    compile_cmd.add_argument("-o", "--output", help="the .snnc (-t nir: .nir) file to write (default: MODEL's name, "
                             "here)")  # fmt: skip
    add_conversion_options(compile_cmd, many=False, targets=("cpu", "accel", "nir"))
    compile_cmd.add_argument("--nir-flavor", choices=nir_flavors(), help="-t nir: the form for "
                             "one importer (docs/interop.md; default nir: NIR as written)")  # fmt: skip
    compile_cmd.add_argument("--passes", metavar="SPECS", help="comma-separated passes, each `name` or "
                             "`name{key=value,...}` (default: the whole conversion pipeline)")  # fmt: skip
    compile_cmd.add_argument("--print-ir-after", metavar="PASS", help="print the IR after these passes ('all')")
    compile_cmd.add_argument("--config", metavar="CHIP.toml", help="accel: chip configuration (docs/accel.md)")
    compile_cmd.set_defaults(handler="compile")

    check = commands.add_parser("check", help="accel: compile, verify the fit and the program, report (for CI)")
    check.add_argument("model", help="an ONNX file")
    add_conversion_options(check, many=False, targets=("accel",))
    check.add_argument("--config", metavar="CHIP.toml", help="chip configuration (docs/accel.md)")
    check.set_defaults(handler="check")

    sim = commands.add_parser("sim", help="run an accelerator program (.snnx) in the cycle and energy simulator")
    sim.add_argument("program", help="a .snnx file from snnc compile -t accel")
    sim.add_argument(
        "--data",
        "--input",
        dest="data",
        required=True,
        help="a .npz with array 'x' (and 'y' for accuracy), or a dataset name (its test images)",
    )
    sim.add_argument("--limit", type=int, help="use the first N inputs")
    sim.add_argument("--batch", type=int, default=64, help="images simulated at once (default 64)")
    sim.add_argument("--config", metavar="CHIP.toml", help="the chip to run on; must be the one compiled for")
    sim.add_argument("--plot", metavar="OUT.png", help="plot energy by kind (SNN and ANN) and cycles per image")
    add_common_options(sim)
    sim.set_defaults(handler="sim")

    run = commands.add_parser("run", help="run a compiled .snnc program on inputs")
    run.add_argument("artifact", help="a .snnc file from snnc compile")
    run.add_argument(
        "--data",
        "--input",
        dest="data",
        required=True,
        help="a .npz with array 'x' (and 'y' for accuracy), or a dataset name (its test images)",
    )
    run.add_argument("-T", "--timesteps", type=int, help="override the compiled T")
    run.add_argument("--limit", type=int, help="use the first N inputs")
    run.add_argument("--output", help="write logits, predictions, steps (and recorded spikes) to this .npz")
    run.add_argument("--record", metavar="LAYERS", help="comma-separated neuron layers whose spike trains "
                     "(N, T, ...) go to --output as 'spikes/LAYER' (the layer's name without leading '/')")  # fmt: skip
    run.add_argument("--threads", type=int, help="worker threads (default: all cores)")
    run.add_argument("--trust-native", action="store_true", help="run the object code stored in the artifact "
                     "instead of compiling its IR here: only for artifacts you trust like an executable")  # fmt: skip
    run.add_argument("--numeric", choices=["float", "fixed"], help="native code in float32, or in fixed point "
                     "(int8 weights, integer state: the accel target's numbers, bit-exact with its simulator); "
                     "default: the program's target (cpu: float; accel: its simulator)")  # fmt: skip
    add_common_options(run)
    run.set_defaults(handler="run")

    zoo = commands.add_parser("zoo", help="write a standard network (CIFAR, ImageNet) as ONNX, random weights")
    zoo.add_argument("name", nargs="?", help="a model of the suite (--list shows them)")
    zoo.add_argument("-o", "--output", help="the .onnx file to write (default: NAME.onnx, here)")
    zoo.add_argument("--seed", type=int, default=0, help="the weights' seed (default 0)")
    zoo.add_argument("--opset", type=int, default=17, help="the ONNX opset (default 17)")
    zoo.add_argument("--list", action="store_true", help="list the suite")
    add_common_options(zoo)
    zoo.set_defaults(handler="zoo")

    ev = commands.add_parser("eval", help="accuracy of the ANN and its SNNs over neuron models and T")
    ev.add_argument("model", help="an ONNX file")
    ev.add_argument("--data", required=True, help="a .npz with 'x' and 'y', or a dataset name (its test images): "
                    "fashion-mnist, digits")  # fmt: skip
    ev.add_argument(
        "--limit", type=int, help="use the first N images (--adaptive still calibrates its exits on all of --calib)"
    )
    ev.add_argument("--plot", metavar="OUT.png", help="plot accuracy against T")
    ev.add_argument("--cluster", metavar="ray[://HOST:PORT]",
                    help="run the sweep on a Ray cluster: ray (a local one), ray://HOST:PORT (Ray Client) or "
                    "HOST:PORT (from a node of it); one worker per --threads CPUs, each compiling once; "
                    "pip install 'snnc[ray]'")  # fmt: skip
    ev.add_argument("--workers", type=int, help="with --cluster: at most N workers (default: one per CPU slot)")
    ev.add_argument("--per-image", action="store_true", help="with --json: each row's predictions and steps used")
    add_conversion_options(ev, many=True, targets=("cpu", "accel", "reference"))
    ev.set_defaults(handler="eval")
    return parser


def add_common_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--json", action="store_true", help="print JSON for machines")
    sub.add_argument("-q", "--quiet", action="store_true", help="no progress bars or summaries")
    sub.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)


TARGET_HELP = {
    "cpu": "cpu: native code for this machine (default)",
    "nir": "nir: a NIR graph (.nir) for the simulators and chips that import NIR",
    "reference": "reference: the numpy simulator (the oracle)",
    "accel": "accel: the accelerator's program (.snnx) and its simulator",
}
STEPS_HELP = "timesteps T: the steps each input is presented for"


def add_conversion_options(sub: argparse.ArgumentParser, many: bool, targets=("cpu", "accel")) -> None:
    target_help = "; ".join(TARGET_HELP[t] for t in targets)
    if many:
        sub.add_argument("-t", "--target", choices=targets, default="cpu", help=target_help)
        sub.add_argument("--threads", type=int, help="worker threads for the cpu target (default: all cores)")
        sub.add_argument("--numeric", choices=["float", "fixed"], default="float",
                         help="cpu, reference: float32, or the integer network the accel target runs")  # fmt: skip
        sub.add_argument("--neuron", type=csv(str), default=["ilif", "if"], help="neuron models (default ilif,if)")
        sub.add_argument("-T", "--timesteps", type=csv(int), default=[4, 8, 16, 32],
                         help=STEPS_HELP + ", a list (default 4,8,16,32)")  # fmt: skip
    else:
        sub.add_argument("-t", "--target", choices=targets, default=targets[0], help=target_help)
        sub.add_argument("-T", "--timesteps", type=int, default=8, help=STEPS_HELP + " (default 8)")
    sub.add_argument(
        "--calib",
        help="calibration data: a .npz with 'x' (a few hundred training inputs), or a "
        "dataset name (its training images)" + (" (default: --data's, if it names one)" if many else ""),
    )
    sub.add_argument(
        "--data-free",
        action="store_true",
        help="no calibration data: thresholds from weight "
        "bounds (the bundled networks drop to chance: use it to test a pipeline, not for accuracy)",
    )
    add_setting_options(sub, sweep=many)
    sub.add_argument("--adaptive", action="store_true", help="stop each input at its first confident step")
    sub.add_argument(
        "--exit-metric",
        choices=("max-softmax", "entropy", "sum-softmax"),  # ops_snn.EXIT_METRICS (not imported: start-up time)
        help="the exits' confidence (default: sum-softmax for if and msat, max-softmax for ilif)",
    )
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


COMMANDS = ("inspect", "compile", "run", "eval", "check", "sim", "zoo")
