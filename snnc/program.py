"""`snnc.compile`: ONNX → SNN Program, which runs, reports, saves and loads (`.snnc` files)."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snnc import __version__
from snnc.data import check_data
from snnc.errors import FileError, InvalidModelError, IRError, UsageError
from snnc.frontend import import_onnx
from snnc.ir.graph import Graph
from snnc.ir.text import parse_graph, print_graph
from snnc.passes import DEFAULT_PASSES, PassContext, PassManager, conversion_pipeline
from snnc.passes.schedule import latency_steps
from snnc.report import program_report
from snnc.runtime.jit import CompiledNetwork, NativeCode
from snnc.runtime.snn import SimResult, simulate
from snnc.targets.cpu.llvm import ObjectCache
from snnc.targets.cpu.plan import MAX_ILIF_STEPS

FORMAT = "snnc-program"
FORMAT_VERSION = 1
TARGETS = ("cpu", "accel")
# Threshold balancing per neuron model: iLIF per channel at the 99.95th percentile (T = 5 on the
# full Fashion-MNIST test set: ResNet +0.07, VGG 0.00 points against the ANN; per layer at
# p99.99: −0.53 and +0.18); rate coding per layer at p99.9.
DEFAULT_PERCENTILE = {"ilif": 99.95, "if": 99.9, "msat": 99.9}
DEFAULT_PER_CHANNEL = {"ilif": True, "if": False, "msat": False}
# Initial membrane, in thresholds: half a step turns flooring into rounding. MSAT's adapted
# threshold sits near 0.6·θ_max, so its half step is 0.3 (VGG fixture, T = 8: 90 % vs 78 % at 0.5).
DEFAULT_V_INIT = {"ilif": 0.5, "if": 0.5, "msat": 0.3}
ENGINES = ("native", "native-fixed", "reference", "accel", "fixed")
NATIVE_MEMBER = "native.o"
ACCEL_MEMBER = "program.snnx"
ACCEL_BATCH = 64  # images the accel simulator and the fixed-point reference run at once (memory: T × batch)


@dataclass
class Settings:
    """How a program was compiled; stored in the artifact."""

    target: str = "cpu"
    neuron: str = "ilif"
    timesteps: int = 8
    percentile: float = 99.99
    per_channel: bool = False
    reset: str = "subtract"
    v_init: float = 0.5
    maxpool: str = "gate"
    pipelined: bool = True
    calibrated: bool = False
    passes: tuple[str, ...] = DEFAULT_PASSES
    msat: dict | None = None  # MSAT hyperparameter overrides (see substitute-neurons)
    spike_confidence: bool = False
    adaptive: dict | None = None  # how the exit threshold was calibrated (see calibrate_exits)
    input_scale: float | None = None  # accel: the real value of one unit of the int8 input
    chip: dict | None = None  # accel: the chip configuration (None: the built-in default)

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise UsageError(f"target must be one of {TARGETS}, got {self.target!r}")
        if not 1 <= int(self.timesteps) <= 4096:
            raise UsageError(f"timesteps must be in 1..4096, got {self.timesteps}")
        self.timesteps = int(self.timesteps)
        self.passes = tuple(self.passes)


class Program:
    """A compiled SNN: `.run(x)` simulates it, `.report()` describes it, `.save(path)` keeps it."""

    def __init__(self, graph: Graph, settings: Settings, notes: dict[str, list[str]] | None = None,
                 native: NativeCode | None = None) -> None:  # fmt: skip
        self.graph = graph
        self.settings = settings
        self.notes = notes or {}
        self.native = native  # object code loaded from an artifact (used if built for this host)
        self._network = None
        self._accel: dict[int, object] = {}  # T → AccelBuild
        self._fixed: dict[int, object] = {}  # T → FixedNetwork

    @property
    def latency_steps(self) -> int:
        s = self.settings
        return latency_steps(self.graph, s.neuron, s.timesteps, s.pipelined)

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
        name = self.graph.inputs[0]
        x = check_data(np.asarray(x), self.graph.type(name), "input")
        steps = timesteps or self.settings.timesteps
        latency = latency_steps(self.graph, self.settings.neuron, steps, self.settings.pipelined)
        engine = engine or ("native" if self.settings.target == "cpu" else "accel")
        if engine not in ENGINES:
            raise UsageError(f"engine must be one of {ENGINES}, got {engine!r}")
        if engine == "accel":
            return self._run_accel(x, steps, record, trace)
        if engine == "fixed":
            from snnc.runtime.accel import simulate_in_batches
            from snnc.runtime.fixed import simulate_fixed

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
        from snnc.targets.accel import quantize

        return quantize(self.graph, steps, self.input_scale)

    @property
    def input_scale(self) -> float:
        """The real value of one unit of the int8 input (programs saved without one: inputs in [−1, 1])."""
        from snnc.targets.accel import input_scale

        return self.settings.input_scale if self.settings.input_scale is not None else input_scale(None)

    def fixed_network(self, timesteps: int | None = None, cache: ObjectCache | None = None):
        """The cpu target's fixed-point code for T steps, built on first use (or from the cache)."""
        from snnc.runtime.jit_fixed import FixedNetwork

        steps = timesteps or self.settings.timesteps
        if steps not in self._fixed:
            self._fixed[steps] = FixedNetwork(self.qnet(steps), cache or ObjectCache())
        return self._fixed[steps]

    def _run_accel(self, x, steps: int, record, trace: bool) -> SimResult:
        from snnc.runtime.accel import simulate_accel, simulate_in_batches

        if record:
            raise UsageError("--record is not available on the accel simulator")
        program = self.accel(steps).program
        return simulate_in_batches(lambda chunk: simulate_accel(program, chunk, trace=trace), x, ACCEL_BATCH)

    def calibrate_exits(
        self,
        x,
        labels=None,
        budget: float = 0.5,
        metric: str = "max-softmax",
        step_weights: bool | None = None,
        threads: int | None = None,
        engine: str | None = None,
    ):
        """Adaptive timesteps: see snnc.exits.calibrate_exits."""
        from snnc.exits import calibrate_exits

        x = check_data(np.asarray(x), self.graph.type(self.graph.inputs[0]), "calibration data")
        if engine is None and self.settings.target == "accel":
            engine = "native-fixed"  # the chip's own integer outputs, without simulating its cycles
        return calibrate_exits(self, x, labels, budget, metric, step_weights, threads, engine)

    def forget_native_code(self) -> None:
        """The graph changed: compile again on the next native run."""
        self._network = None
        self.native = None
        self._accel = {}
        self._fixed = {}

    def network(self, cache: ObjectCache | None = None) -> CompiledNetwork:
        """The compiled native code, built on first use (or taken from the object cache)."""
        if self._network is None:
            self._network = CompiledNetwork(self.graph, cache or ObjectCache(), self.native)
        return self._network

    def report(self, result: SimResult | None = None) -> dict:
        return program_report(self, result)

    def save(self, path) -> Path:
        """Write the artifact atomically: a temporary file renamed into place."""
        path = Path(path)
        manifest = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "snnc_version": __version__,
            "settings": dataclasses.asdict(self.settings),
            "notes": self.notes,
        }
        buffer = io.BytesIO()
        if self.settings.target == "cpu":
            native = self.network().native
            manifest["native"] = {"fingerprint": native.fingerprint, "structure": native.structure_hash}
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("manifest.json", json.dumps(manifest, indent=1))
            archive.writestr("graph.ir", print_graph(self.graph))
            if "native" in manifest:
                archive.writestr(NATIVE_MEMBER, native.code)
            if self.settings.target == "accel":
                archive.writestr(ACCEL_MEMBER, self.accel_binary())
        write_atomically(path, buffer.getvalue())
        return path

    def accel_binary(self) -> bytes:
        """The .snnx program file of an accel program."""
        from snnc.targets.accel import encode_program

        return encode_program(self.accel().program)


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        give_default_permissions(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def give_default_permissions(path) -> None:
    """mkstemp makes files private (0600); a written result should get the usual 0666 & ~umask."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def load(path) -> Program:
    """Read a `.snnc` artifact written by Program.save."""
    path = Path(path)
    if not path.exists():
        raise FileError(f"{path}: no such file")
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = json.loads(archive.read("manifest.json"))
            text = archive.read("graph.ir").decode()
            native = _native_code(archive, manifest)
    except (zipfile.BadZipFile, zlib.error, KeyError, json.JSONDecodeError, UnicodeDecodeError, OSError) as exc:
        raise FileError(f"{path}: not a snnc program, or corrupted ({exc})") from exc
    if manifest.get("format") != FORMAT:
        raise FileError(f"{path}: not a snnc program (format {manifest.get('format')!r})")
    if manifest.get("version") != FORMAT_VERSION:
        raise FileError(
            f"{path}: program format version {manifest.get('version')} is not supported by snnc {__version__} "
            f"(reads version {FORMAT_VERSION}): recompile the model"
        )
    try:
        graph = parse_graph(text)
        settings = Settings(**manifest["settings"])
    except (IRError, TypeError, UsageError) as exc:
        raise FileError(f"{path}: corrupted program ({exc})") from exc
    return Program(graph, settings, manifest.get("notes", {}), native)


def _native_code(archive: zipfile.ZipFile, manifest: dict) -> NativeCode | None:
    """The stored object code; the program recompiles when it was built for another host."""
    info = manifest.get("native")
    if not isinstance(info, dict) or NATIVE_MEMBER not in archive.namelist():
        return None
    return NativeCode(archive.read(NATIVE_MEMBER), str(info.get("fingerprint")), str(info.get("structure")))


def compile(
    model,
    target: str = "cpu",
    neuron: str = "ilif",
    timesteps: int = 8,
    calibration: np.ndarray | None = None,
    percentile: float | None = None,
    per_channel: bool | None = None,
    reset: str = "subtract",
    v_init: float | None = None,
    maxpool: str = "gate",
    pipelined: bool = True,
    passes: tuple[str, ...] | None = None,
    print_ir_after: set[str] | None = None,
    input_shapes: dict | None = None,
    msat: dict | None = None,
    spike_confidence: bool = False,
    chip=None,
) -> Program:
    """Compile an ONNX model (path, bytes, ModelProto) or an IR Graph into an SNN Program.
    `chip`: the accel target's ChipConfig (default: the built-in one)."""
    graph = model.copy() if isinstance(model, Graph) else import_onnx(model, input_shapes)
    check_finite_weights(graph)
    if calibration is not None:
        calibration = check_data(np.asarray(calibration), graph.type(graph.inputs[0]), "calibration data")
    v_init = DEFAULT_V_INIT.get(neuron, 0.5) if v_init is None else v_init
    per_channel = DEFAULT_PER_CHANNEL.get(neuron, False) if per_channel is None else per_channel
    settings = Settings(
        target, neuron, timesteps, percentile or DEFAULT_PERCENTILE.get(neuron, 99.99), per_channel, reset, v_init,
        maxpool, pipelined, calibration is not None, passes or DEFAULT_PASSES, msat, spike_confidence,
    )  # fmt: skip
    if target == "cpu" and neuron == "ilif" and settings.timesteps > MAX_ILIF_STEPS:
        raise UsageError(f"the cpu target runs iLIF with at most {MAX_ILIF_STEPS} steps, got T = {timesteps}")
    pipeline = conversion_pipeline(
        neuron, settings.percentile, per_channel, reset, v_init, maxpool, pipelined, settings.passes, msat,
        spike_confidence,
    )  # fmt: skip
    ctx = PassContext(calibration=calibration, timesteps=settings.timesteps)
    PassManager(pipeline, print_ir_after=print_ir_after).run(graph, ctx)
    program = Program(graph, settings, ctx.notes)
    from snnc.targets.accel import input_scale

    settings.input_scale = input_scale(calibration)  # the int8 input's unit, for the fixed-point engines
    if target == "accel":
        settings.chip = None if chip is None else chip.to_dict()
        build = program.accel()  # quantize, map and emit now: a model that does not fit fails here
        program.notes["accel"] = [f"{len(build.slices)} of {build.config.cores} cores, input scale "
                                  f"{settings.input_scale:.6g} per unit"]  # fmt: skip
    return program


def check_finite_weights(graph: Graph) -> None:
    for node in graph.nodes():
        for key, value in node.op.attributes().items():
            if isinstance(value, np.ndarray) and not np.all(np.isfinite(value)):
                raise InvalidModelError(f"node {node.name!r} ({node.op.name}): {key} holds NaN or infinite values")
