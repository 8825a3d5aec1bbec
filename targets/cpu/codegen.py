"""LLVM IR for a plan: one internal function per kernel (pointer arguments marked noalias, so
the vectorizer needs no runtime overlap checks) and the entry point that runs them per sample,
for either number type.

One emitter, parameterized by a `Numeric` (numba's Codegen hooks): the float32 code
(float_kernels.FLOAT) and the fixed-point code (fixed_kernels.FIXED) differ in their element
types, entry signature, kernel table, per-sample buffers, in whether T is an argument or a
constant, and in what stops the time loop early. Per sample the entry point runs the kernels of
each phase in plan order: `static` (once, from the input), `init` (state), `step` (T times,
unless an adaptive exit stops it), then `final` with T the steps run.

Kernels whose code would be the same — the same kind, sizes and options, whatever regions they
read — are generated once and called with their own pointers: LLVM's work grows with a
network's distinct kernels (a ResNet-50 repeats its blocks), not with its layers. So a kernel
body reads nothing that differs between calls except through its arguments: region offsets and
counter slots (CALL_SITE) are applied where it is called.
"""

from __future__ import annotations

from llvmlite import ir
from snnc.targets.cpu.irbuild import I8, I64, Function, i64, step_loop
from snnc.targets.cpu.layout import Kernel, Region
from snnc.targets.cpu.llvm import module_header

CALL_SITE = ("counter", "layer")  # kernel arguments applied by the caller, not in the body


class Numeric:
    """What differs between the number types; subclasses set the attributes and the hooks."""

    name: str
    module_name: str
    entry: str
    entry_args: tuple[tuple[str, ir.Type], ...]
    kernels: dict  # kind → (builder(f, args), extra arguments {name: type})

    def element(self, space: str) -> ir.Type:
        """The element type of a buffer."""
        raise NotImplementedError

    def extra_args(self, kernel: Kernel) -> dict:
        """Arguments a kernel takes beyond its table entry's."""
        return {}

    def kernel_args(self, plan, kernel: Kernel) -> dict:
        """What a kernel builder reads: the kernel's arguments (and plan-wide constants)."""
        return kernel.args

    def bases(self, main: Function, plan, sample) -> dict:
        """Per-sample pointers, by buffer or argument name."""
        raise NotImplementedError

    def timesteps(self, main: Function, plan):
        """T as the code sees it: the entry's argument, or a constant."""
        raise NotImplementedError

    def stop(self, main: Function, plan):
        """None, or a callable building the i1 that ends the time loop early."""
        return None

    def special_argument(self, main: Function, name: str):
        """A value the numeric type computes for an argument of this name (else None)."""
        return None


def pointer_args(kernel: Kernel, element, extra: dict[str, ir.Type]) -> list[tuple[str, ir.Type]]:
    """The kernel's regions as typed pointer arguments (in a fixed order), then the extras."""
    args = []
    for key, value in kernel.args.items():
        if isinstance(value, Region):
            args.append((key, element(value.space).as_pointer()))
        elif isinstance(value, tuple) and value and isinstance(value[0], Region):
            args += [(f"{key}{i}", element(r.space).as_pointer()) for i, r in enumerate(value)]
    return args + list(extra.items())


def generate(plan, numeric: Numeric, profile: bool = False) -> str:
    """The LLVM IR text of the whole program. With `profile`, each kernel call adds its cycle
    count (llvm.readcyclecounter) to counts[len(plan.counters) + kernel index]."""
    module = ir.Module(name=numeric.module_name)
    module.triple, module.data_layout = module_header()
    main = Function(module, numeric.entry, list(numeric.entry_args), internal=False)
    functions = _kernel_functions(module, plan, numeric)
    a = main.args
    T = numeric.timesteps(main, plan)
    with main.loop(a["n"]) as sample:
        bases = numeric.bases(main, plan, sample)

        def calls(phase: str, **scalars) -> None:
            for i, (fn, kernel) in enumerate(zip(functions, plan.kernels)):
                if kernel.phase == phase:
                    slot = len(plan.counters) + i if profile else None
                    _call(main, numeric, bases, fn, kernel, slot, sample, T, scalars)

        calls("static")
        calls("init")
        steps_run = T
        if any(k.phase == "step" for k in plan.kernels):
            steps_run = step_loop(main, T, lambda step: calls("step", step=step), numeric.stop(main, plan))
        main.store(steps_run, a["steps"], sample)
        calls("final", T=steps_run)
    main.finish()
    return str(module)


def _kernel_functions(module: ir.Module, plan, numeric: Numeric) -> list[ir.Function]:
    """The function each kernel calls, one per distinct body (see the module's docstring)."""
    bodies: dict[str, ir.Function] = {}
    functions = []
    for kernel in plan.kernels:
        build, extra = numeric.kernels[kernel.kind]
        args = pointer_args(kernel, numeric.element, {**extra, **numeric.extra_args(kernel)})
        key = body_key(kernel, args)
        if key not in bodies:
            f = Function(module, f"k{len(bodies)}_{kernel.kind.replace('-', '_')}", args)
            build(f, numeric.kernel_args(plan, kernel))
            f.finish()
            bodies[key] = f.fn
        functions.append(bodies[key])
    return functions


def body_key(kernel: Kernel, args: list[tuple[str, ir.Type]]) -> str:
    """What a kernel's code depends on: its kind, typed arguments, and the values of its other
    arguments, with regions by space and size (never offset) and call-site values by presence."""

    def plain(value):
        if isinstance(value, Region):
            return ("region", value.space, value.size)
        if isinstance(value, tuple):
            return tuple(plain(v) for v in value)
        return value

    body = sorted((key, "call-site" if key in CALL_SITE else plain(value)) for key, value in kernel.args.items())
    return repr((kernel.kind, [(name, str(typ)) for name, typ in args], body))


def _call(main: Function, numeric: Numeric, bases: dict, fn: ir.Function, kernel: Kernel, slot, sample, T,
          scalars: dict) -> None:  # fmt: skip
    """Call a kernel: regions become pointers into their buffers; other arguments come from the
    per-sample bases, the numeric type, `scalars` (the steps run) or the entry point's own."""
    b, a = main.b, main.args
    step = scalars.get("step")
    scalars = {"sample": sample, **scalars}
    values = []
    for arg in fn.args:
        name = arg.name
        region = kernel.args.get(name, _tuple_member(kernel.args, name))
        if isinstance(region, Region):
            base = bases.get(region.space, a.get(region.space))
            values.append(main.at(base, region.offset))
        elif name == "record":
            values.append(_record_pointer(main, kernel, sample, step, T))
        elif name == "step":
            values.append(i64(0) if step is None else step)
        elif name == "counts":  # at the kernel's counter slot
            counts = bases.get(name, a.get(name))
            values.append(main.at(counts, kernel.args.get("counter", 0)))
        elif name in bases:
            values.append(bases[name])
        elif (special := numeric.special_argument(main, name)) is not None:
            values.append(special)
        elif scalars.get(name) is not None:
            values.append(scalars[name])
        else:
            values.append(a[name])
    if slot is None:
        b.call(fn, values)
        return
    clock = main.intrinsic("llvm.readcyclecounter", I64, [])
    begin = b.call(clock, [])
    b.call(fn, values)
    pointer = main.at(a["counts"], slot)
    b.store(b.add(b.load(pointer), b.sub(b.call(clock, []), begin)), pointer)


def _tuple_member(args: dict, name: str) -> Region | None:
    """Member i of a tuple of regions, which pointer_args names key0, key1, …"""
    stem = name.rstrip("0123456789")
    members = args.get(stem)
    return members[int(name[len(stem) :])] if isinstance(members, tuple) and stem != name else None


def _record_pointer(main: Function, kernel: Kernel, sample, step, T):
    """records[layer] + (sample·T + step)·n entries of record_bytes (a whole-window kernel: the
    sample's first step), or null when the layer is not recorded."""
    b, a = main.b, main.args
    base = b.load(main.at(a["records"], kernel.args["layer"]))
    row = b.mul(sample, T)
    if step is not None:
        row = b.add(row, step)
    offset = b.mul(row, i64(kernel.args["n"] * kernel.args.get("record_bytes", 1)))
    null = ir.Constant(I8.as_pointer(), None)
    return b.select(b.icmp_unsigned("==", base, null), null, b.gep(base, [offset]))
