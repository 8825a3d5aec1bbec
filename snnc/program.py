"""`snnc.compile`: ONNX → SNN Program, which runs, reports, saves and loads (`.snnc` files)."""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from snnc.data import check_data
from snnc.errors import InvalidModelError, UsageError
from snnc.frontend import import_onnx
from snnc.ir.graph import Graph
from snnc.ir.ops_snn import Neuron, Readout
from snnc.passes import DEFAULT_PASSES, PassContext, PassManager, conversion_pipeline
from snnc.passes.schedule import latency_steps
from snnc.passes.settings import format_spec, pass_specs, resolve
from snnc.report import program_report, render_report
from snnc.resources import check_activation_memory
from snnc.runtime.snn import SimResult, simulate
from snnc.targets.cpu.llvm import ObjectCache
from snnc.targets.cpu.planning import check_steps
from snnc.targets.cpu.runner import CompiledNetwork, NativeCode
from snnc.timing import stage

TARGETS = ("cpu", "accel")
ENGINES = ("native", "native-fixed", "reference", "accel", "fixed")
# compile() without calibration data and without data_free: what to give instead, and the cost
# of going without (bench: data-free iLIF T = 8 on 2,000 test images against the defaults)
NO_CALIBRATION = (
    "no calibration data: thresholds are set from the activations of a few hundred training inputs; "
    "give --calib FILE.npz (array 'x') or --calib NAME (a dataset's training images: fashion-mnist, digits), "
    "in Python calibration=ARRAY; --data-free (data_free=True) sets them from weight bounds instead, which "
    "leaves the bundled networks at chance (fmnist_vgg 9.9 % against 94.1 %)"
)
ACCEL_BATCH = 64  # images the accel simulator and the fixed-point reference run at once (memory: T × batch)


@dataclass
class Settings:
    """How a program was compiled, stored in the artifact: the target, T, the pass pipeline (pass
    specs), what was calibrated, and the conversion settings by name (snnc.passes.settings():
    each declared once, on its pass's options), read as attributes: settings.neuron."""

    target: str = "cpu"
    timesteps: int = 8
    conversion: dict = field(default_factory=dict)
    calibrated: bool = False
    passes: tuple[str, ...] = DEFAULT_PASSES
    adaptive: dict | None = None  # how the exit threshold was calibrated (see calibrate_exits)
    input_scale: float | None = None  # accel: the real value of one unit of the int8 input
    chip: dict | None = None  # accel: the chip configuration (None: the built-in default)

    def __post_init__(self) -> None:
        """Every field checked: settings also arrive from artifacts that anyone may have written."""
        _require(self.target in TARGETS, "target", f"one of {', '.join(TARGETS)}")
        _require(isinstance(self.timesteps, numbers.Integral) and not isinstance(self.timesteps, bool)
                 and 1 <= self.timesteps <= 4096, "timesteps", "an integer in 1..4096")  # fmt: skip
        self.timesteps = int(self.timesteps)
        _require(isinstance(self.calibrated, (bool, np.bool_)), "calibrated", "true or false")
        _require(isinstance(self.passes, (list, tuple)) and all(isinstance(p, str) for p in self.passes),
                 "passes", "a list of pass specs")  # fmt: skip
        self.passes = tuple(self.passes)
        _require(self.adaptive is None or (isinstance(self.adaptive, dict) and all(isinstance(k, str)
                 for k in self.adaptive)), "adaptive", "a table of named values")  # fmt: skip
        _require(self.input_scale is None or (_finite(self.input_scale) and self.input_scale > 0), "input_scale",
                 "a positive number")  # fmt: skip
        _require(self.chip is None or isinstance(self.chip, dict), "chip", "a chip configuration table")
        if self.chip is not None:
            from snnc.targets.accel.config import config_from_stored

            config_from_stored(self.chip)  # a UsageError names what is wrong
        _require(isinstance(self.conversion, dict), "conversion", "a table of settings")
        self.conversion = resolve(self.conversion)
        values = {k: v for k, v in self.conversion.items() if k != "neuron"}
        conversion_pipeline(self.conversion["neuron"], pass_specs(self.passes), **values)  # the passes check them

    def __getattr__(self, name: str):
        conversion = self.__dict__.get("conversion", {})
        if name in conversion:
            return conversion[name]
        raise AttributeError(f"settings have no {name!r}")

    def to_dict(self) -> dict:
        """One flat table (the artifact's `settings`)."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "conversion"}
        return {**fields, **self.conversion}

    @classmethod
    def from_dict(cls, data: dict) -> Settings:
        own = {f.name for f in dataclasses.fields(cls)} - {"conversion"}
        return cls(**{k: v for k, v in data.items() if k in own}, conversion={k: v for k, v in data.items()
                                                                              if k not in own})  # fmt: skip


class Report(dict):
    """A program's report (snnc.report.program_report): a dict, for JSON; printed, tables."""

    def __str__(self) -> str:
        return render_report(self)


def _native_simulation(graph: Graph, x: np.ndarray, timesteps: int, record=(), record_values=False) -> SimResult:
    """The cpu target's float engine on a graph the passes are converting (correct-bias runs it):
    its code comes from the object cache after the first call, as weights are arguments."""
    return CompiledNetwork(graph, ObjectCache()).run(x, timesteps, record=record, record_values=record_values)


def _finite(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _require(ok: bool, key: str, what: str) -> None:
    if not ok:
        raise UsageError(f"setting {key!r} must be {what}")


@dataclass(frozen=True)
class TensorInfo:
    """A program's input or output, as onnxruntime's get_inputs() describes one: its name, its
    shape ("N" for the batch) and its element type."""

    name: str
    shape: tuple
    type: str


class Program:
    """A compiled SNN: `.run(x)` simulates it, `.report()` describes it, `.save(path)` keeps it;
    `.inputs` and `.outputs` say what it takes and gives."""

    def __init__(self, graph: Graph, settings: Settings, notes: dict[str, list[str]] | None = None,
                 native: NativeCode | None = None) -> None:  # fmt: skip
        self.graph = graph
        self.settings = settings
        self.notes = notes or {}
        self.native = native  # object code loaded from an artifact (used if built for this host)
        self._network = None
        self._latencies: dict[int, int] = {}  # T → latency_steps
        self._input_name: str | None = None  # see _input
        self._accel: dict[int, object] = {}  # T → AccelBuild
        self._fixed: dict[int, object] = {}  # T → FixedNetwork

    def __repr__(self) -> str:
        s = self.settings
        shapes = ", ".join(f"{i.name}: {list(i.shape)}" for i in self.inputs)
        exits = ", adaptive" if s.adaptive else ""
        return f"Program({s.neuron}, T={s.timesteps}, target={s.target}{exits}; inputs ({shapes}))"

    @property
    def inputs(self) -> list[TensorInfo]:
        return [self._info(name) for name in self.graph.inputs]

    @property
    def outputs(self) -> list[TensorInfo]:
        return [self._info(name) for name in self.graph.outputs]

    def _info(self, name: str) -> TensorInfo:
        tensor = self.graph.type(name)
        return TensorInfo(name, tuple("N" if not isinstance(d, int) else d for d in tensor.shape), tensor.dtype)

    @property
    def latency_steps(self) -> int:
        return self._latency(self.settings.timesteps)

    def _latency(self, steps: int) -> int:
        """Steps from the first input to the readout's final value at T = steps (kept per T: a
        run of one image should not walk the graph)."""
        if steps not in self._latencies:
            self._latencies[steps] = latency_steps(self.graph, self.settings.neuron, steps, self.settings.pipelined)
        return self._latencies[steps]

    def _input(self) -> str:
        """The graph's input (found once: finding it walks the graph, too slow for a run of one image)."""
        if self._input_name is None:
            self._input_name = self.graph.inputs[0]
        return self._input_name

    def run(self, x, timesteps: int | None = None, threads: int | None = None, record=(),
            engine: str | None = None, trace: bool = False) -> SimResult:  # fmt: skip
        """Simulate on a batch; returns logits, per-sample steps, spike and SOP counts.

        `engine`: "native" (the cpu target's compiled code; the default for cpu programs),
        "accel" (the accelerator simulator running the program's instruction streams; the
        default for accel programs; cycles and energy in result.hardware) or "reference" (the
        numpy simulator of the float network). Two engines run the quantized integer network
        (int8 weights, integer state; the accel program's numbers): "native-fixed", the cpu
        target's fixed-point mode, and "fixed", its numpy reference (runtime/fixed.py); both
        give the accel simulator's outputs, without cycles.
        `record`: neuron layers whose spike trains come back in result.records;
        `trace`: the readout's per-step estimates come back in result.trace (B, T, K).
        """
        x = check_data(np.asarray(x), self.graph.type(self._input()), "input")
        steps = timesteps or self.settings.timesteps
        latency = self._latency(steps)
        engine = engine or ("native" if self.settings.target == "cpu" else "accel")
        if engine not in ENGINES:
            raise UsageError(f"engine must be one of {ENGINES}, got {engine!r}")
        if engine == "accel":
            return self._run_accel(x, steps, record, trace)
        if engine == "fixed":
            from snnc.runtime.fixed import simulate_fixed
            from snnc.targets.accel.simulator import simulate_in_batches

            qnet = self.qnet(steps)
            return simulate_in_batches(lambda chunk: simulate_fixed(qnet, chunk, record, trace), x, ACCEL_BATCH)
        if engine == "native-fixed":
            return self.fixed_network(steps).run(x, record, trace, threads)
        if engine == "native":
            return self.network().run(x, steps, latency, threads, record, trace)
        return simulate(self.graph, x, steps, latency, record=record, trace=trace)

    def accel(self, timesteps: int | None = None):
        """The accel back end's output for T steps (quantized network, placement, program)."""
        from snnc.targets.accel import build
        from snnc.targets.accel.config import config_from_stored

        steps = timesteps or self.settings.timesteps
        if steps not in self._accel:
            self._accel[steps] = build(self.graph, steps, self.input_scale, config_from_stored(self.settings.chip))
        return self._accel[steps]

    def qnet(self, timesteps: int | None = None):
        """The quantized integer network for T steps (the accel target's numbers)."""
        steps = timesteps or self.settings.timesteps
        if steps in self._accel:
            return self._accel[steps].qnet
        from snnc.passes.quantize import quantize

        return quantize(self.graph, steps, self.input_scale)

    @property
    def input_scale(self) -> float:
        """The real value of one unit of the int8 input (programs saved without one: inputs in [−1, 1])."""
        from snnc.passes.quantize import input_scale

        return self.settings.input_scale if self.settings.input_scale is not None else input_scale(None)

    def fixed_network(self, timesteps: int | None = None, cache: ObjectCache | None = None):
        """The cpu target's fixed-point code for T steps, built on first use (or from the cache)."""
        from snnc.targets.cpu.runner import FixedNetwork

        steps = timesteps or self.settings.timesteps
        if steps not in self._fixed:
            self._fixed[steps] = FixedNetwork(self.qnet(steps), cache or ObjectCache())
        return self._fixed[steps]

    def _run_accel(self, x, steps: int, record, trace: bool) -> SimResult:
        from snnc.targets.accel.simulator import simulate_accel, simulate_in_batches

        if record:
            raise UsageError("--record is not available on the accel simulator")
        program = self.accel(steps).program
        return simulate_in_batches(lambda chunk: simulate_accel(program, chunk, trace=trace), x, ACCEL_BATCH)

    def calibrate_exits(
        self,
        x,
        labels=None,
        budget: float = 0.5,
        metric: str | None = None,
        step_weights: bool | None = None,
        threads: int | None = None,
        engine: str | None = None,
        tracer=None,
        margin: float | None = None,
    ):
        """Adaptive timesteps: see snnc.exits.calibrate_exits."""
        from snnc.exits import calibrate_exits

        x = check_data(np.asarray(x), self.graph.type(self._input()), "calibration data")
        if engine is None and self.settings.target == "accel":
            engine = "native-fixed"  # the chip's own integer outputs, without simulating its cycles
        return calibrate_exits(self, x, labels, budget, metric, step_weights, threads, engine, tracer, margin)

    def forget_native_code(self) -> None:
        """The graph changed: compile again on the next native run."""
        self._network = None
        self.native = None
        self._latencies = {}
        self._input_name = None
        self._accel = {}
        self._fixed = {}

    def network(self, cache: ObjectCache | None = None) -> CompiledNetwork:
        """The compiled native code, built on first use (or taken from the object cache)."""
        if self._network is None:
            self._network = CompiledNetwork(self.graph, cache or ObjectCache(), self.native)
        return self._network

    def report(self, result: SimResult | None = None) -> Report:
        """What the program is (settings, layers, the passes' notes) and, given a run's result,
        what it did (activity, the chip's figures): a dict, which prints as tables."""
        return Report(program_report(self, result))

    def save(self, path) -> Path:
        """Write the `.snnc` artifact atomically (snnc/artifact.py)."""
        from snnc.artifact import save_artifact

        return save_artifact(self, path)

    def to_nir(self, flavor: str = "nir"):
        """The network as a `nir.NIRGraph`, in the form `flavor`'s importer needs (targets/nir/flavors.py).
        NIR says IF networks only: compile with snnc.targets.nir.flavors.nir_conversion(flavor)."""
        from snnc.targets.nir.export import export

        return export(self.graph, self.settings.timesteps, flavor)

    def write_nir(self, path, flavor: str = "nir") -> list[str]:
        """Write the network as a NIR file (HDF5, atomically); returns what the export changed."""
        from snnc.targets.nir.export import export_notes, write_nir

        write_nir(path, self.to_nir(flavor))
        return export_notes(self.settings.conversion, flavor)

    def accel_binary(self) -> bytes:
        """The .snnx program file of an accel program."""
        from snnc.targets.accel import encode_program

        return encode_program(self.accel().program)


def load(path, trust_native: bool = False) -> Program:
    """Read a `.snnc` artifact written by Program.save. Its object code runs only with
    `trust_native=True`; by default the program is compiled from its IR on this machine
    (snnc/artifact.py says what an artifact is trusted for)."""
    from snnc.artifact import load_artifact

    return load_artifact(path, trust_native)


def compile(
    model,
    target: str = "cpu",
    timesteps: int = 8,
    calibration: np.ndarray | None = None,
    passes=None,
    print_ir_after: set[str] | None = None,
    input_shapes: dict | None = None,
    chip=None,
    data_free: bool = False,
    labels: np.ndarray | None = None,
    adaptive: bool | dict = False,
    example_input=None,
    mapper=None,
    **conversion,
) -> Program:
    """Compile an ONNX model (path, bytes, ModelProto), a torch nn.Module (with `example_input`, a
    batch it takes), a NIR graph of IF neurons (path or nir.NIRGraph) or an IR Graph into an SNN Program.

        program = snnc.compile("model.onnx", calibration=x_train[:512], neuron="if", timesteps=32)
        result = program.run(x_test)          # result.logits, result.steps, result.spikes_per_image
        print(program.report(result))

    `target`: "cpu" (native code for this machine) or "accel" (the accelerator's program; `chip`
    its ChipConfig, the built-in one by default). `timesteps`: T, the steps each input is
    presented for. `calibration`: inputs, a few hundred training images, from which thresholds
    are set (required; `data_free=True` instead sets them from weight bounds, far less accurate:
    NO_CALIBRATION says how much). `input_shapes`: fixes dynamic dimensions, {name: shape}.

    `adaptive`: stop each input at its first confident step (adaptive exits, see
    snnc.exits.calibrate_exits), calibrated on `calibration` and its `labels` (without labels,
    against the fixed-T network's own predictions); True, or a dict of calibrate_exits options
    (budget, metric, step_weights). The same as program.calibrate_exits(calibration, labels).

    `conversion`: the conversion settings by name (`snnc.passes.settings()` lists them with
    their help): neuron ("ilif", "if" or "msat"; default "ilif"), thresholds, percentile,
    per_channel, bias_correction, reset, v_init, maxpool, pipelined, msat, spike_confidence;
    unset ones take the neuron model's defaults (snnc/models). `passes`: pass specs,
    "a,b{key=value}" or a list of them (default: the whole conversion pipeline);
    `print_ir_after`: pass names, or "all". `mapper`: where calibration's batches run
    (passes/base.PassContext.mapper; `snnc eval --cluster` gives its workers).
    """
    graph = load_network(model, input_shapes, reset=conversion.get("reset"), example_input=example_input)
    spiking = is_spiking(graph)
    if spiking:  # a NIR import: its neurons and thresholds are given, only the schedule is left
        conversion = spiking_conversion(graph, conversion)
        passes = passes or ("schedule",)
    elif (calibration is None) != bool(data_free):
        raise UsageError(NO_CALIBRATION if calibration is None else "data_free: calibration data was given")
    if adaptive and calibration is None:
        raise UsageError("adaptive exits are calibrated on the calibration data: give calibration")
    conversion = resolve(conversion)  # unset settings: their defaults, or the neuron model's (snnc/models)
    neuron = conversion["neuron"]
    check_finite_weights(graph)
    check_activation_memory(graph)  # a declared shape this machine cannot hold fails here, not in an allocation
    if calibration is not None:
        calibration = check_data(np.asarray(calibration), graph.type(graph.inputs[0]), "calibration data")
    specs = pass_specs(passes or DEFAULT_PASSES)
    settings = Settings(target, timesteps, conversion, calibration is not None, tuple(format_spec(s) for s in specs))
    if target == "cpu":
        check_steps(neuron, settings.timesteps, UsageError)
    pipeline = conversion_pipeline(neuron, specs, **{k: v for k, v in settings.conversion.items() if k != "neuron"})
    ctx = PassContext(calibration=calibration, timesteps=settings.timesteps, cache=ObjectCache(),
                      simulate=_native_simulation, mapper=mapper)  # fmt: skip
    from snnc.passes.quantize import check_mappable, input_scale

    # accel: an operator the chip has no unit for fails before calibration
    checks = {"balance-thresholds": check_mappable}
    PassManager(pipeline, print_ir_after=print_ir_after, checks=checks if target == "accel" else None).run(graph, ctx)
    program = Program(graph, settings, ctx.notes)

    settings.input_scale = input_scale(calibration)  # the int8 input's unit, for the fixed-point engines
    if target == "accel":
        settings.chip = None if chip is None else chip.to_dict()
        with stage("accel"):
            build = program.accel()  # quantize, map and emit now: a model that does not fit fails here
        parts = len(build.plan()["segments"])
        placed = (
            f"{len(build.slices)} of {build.config.cores} cores"
            if parts == 1
            else f"{len(build.slices)} core slices in {parts} segments of at most {build.config.cores} cores"
        )
        program.notes["accel"] = [f"{placed}, input scale {settings.input_scale:.6g} per unit"]  # fmt: skip
    if adaptive:
        program.calibrate_exits(calibration, labels, **({} if adaptive is True else adaptive))
    return program


def load_network(model, input_shapes: dict | None = None, reset: str | None = None, example_input=None) -> Graph:
    """The IR graph of an ONNX model (path, bytes, ModelProto), a torch module (snnc.torch_import),
    a NIR file or graph (`reset`: how its neurons reset, when the file does not say:
    snnc.frontend.nir_import), or a Graph (copied)."""
    if isinstance(model, Graph):
        return model.copy()
    from snnc.frontend.nir_import import import_nir, is_nir
    from snnc.torch_import import import_torch, is_torch_module

    if is_torch_module(model):
        return import_torch(model, example_input, input_shapes)
    if type(model).__module__.startswith("nir") or (isinstance(model, (str, Path)) and is_nir(model)):
        return import_nir(model, reset=reset, input_shapes=input_shapes)
    return import_onnx(model, input_shapes)


def is_spiking(graph: Graph) -> bool:
    """Whether the graph is an SNN already (imported from NIR) rather than an ANN to convert."""
    return any(isinstance(node.op, (Neuron, Readout)) for node in graph.nodes())


def spiking_conversion(graph: Graph, conversion: dict) -> dict:
    """The settings that describe an imported SNN: its neurons' model and reset (given, not chosen)."""
    neurons = [node.op for node in graph.nodes() if isinstance(node.op, Neuron)]
    given = {"neuron": "if", "reset": neurons[0].reset if neurons else "subtract", "v_init": 0.0}
    clashes = {k: v for k, v in conversion.items() if v is not None and k in given and v != given[k]}
    if clashes:
        raise UsageError(f"the network is spiking already (a NIR import) with {given}; it cannot take {clashes}")
    return {**conversion, **given}


def check_finite_weights(graph: Graph) -> None:
    for node in graph.nodes():
        for key, value in node.op.attributes().items():
            if isinstance(value, np.ndarray) and not np.all(np.isfinite(value)):
                raise InvalidModelError(f"node {node.name!r} ({node.op.name}): {key} holds NaN or infinite values")
