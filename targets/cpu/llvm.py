"""The one module that owns LLVM: host target machine, optimization pipeline, verification,
object emission, and loading object code for calling (the on-disk cache: objcache.py).

llvmlite ≥ 0.45 has only the new pass manager (`create_pass_builder`) and initializes LLVM
itself (`llvm.initialize()` raises), so only the native target and asm printer are set up here.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib

import llvmlite
import llvmlite.binding as llvm
from snnc.targets.cpu.objcache import ObjectCache

from snnc.errors import SnncError
from snnc.timing import stage

# The optimizer's and the code generator's levels (bench/opt_level.py measures the choice).
SPEED_LEVEL = 3
CODEGEN_LEVEL = 3


class CodegenError(SnncError):
    """Generated IR that LLVM rejects: a bug in snnc, reported with the verifier's message."""


@functools.cache
def target_machine() -> llvm.TargetMachine:
    """The machine code is generated for (kept for the process)."""
    return new_target_machine()


def new_target_machine() -> llvm.TargetMachine:
    """The host CPU with all its features (AVX2/AVX-512 where present), CODEGEN_LEVEL, JIT code
    model. An execution engine takes ownership of its machine, so each engine gets a new one."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(cpu=host_cpu(), features=host_features(), opt=CODEGEN_LEVEL, jit=True)


def host_cpu() -> str:
    return llvm.get_host_cpu_name()


def host_features() -> str:
    return llvm.get_host_cpu_features().flatten()


def vector_width() -> int:
    """float32 lanes of the host's widest vector registers."""
    features = host_features()
    if "+avx512f" in features:
        return 16
    return 8 if "+avx" in features else 4


def vector_registers() -> int:
    """The host's vector registers: 32 with AVX-512, else 16."""
    return 32 if "+avx512f" in host_features() else 16


def host_fingerprint() -> str:
    """What object code depends on besides the IR: the CPU, its features, llvmlite's version."""
    return f"{llvm.get_process_triple()}|{host_cpu()}|{host_features()}|llvmlite {llvmlite.__version__}"


@functools.cache
def module_header() -> tuple[str, str]:
    """(triple, data layout) to stamp on generated modules. Read once: the TargetData wrapper
    frees its LLVM object when collected, and a second one for the same machine crashes."""
    return llvm.get_process_triple(), str(target_machine().target_data)


def optimize(module: llvm.ModuleRef) -> None:
    """The new pass manager's O3 pipeline with loop and SLP vectorization."""
    tuning = llvm.PipelineTuningOptions(speed_level=SPEED_LEVEL)
    tuning.loop_vectorization = True
    tuning.slp_vectorization = True
    tuning.loop_unrolling = False  # kernels are unrolled where it pays; LLVM unrolling them again costs 7x compile time
    builder = llvm.create_pass_builder(target_machine(), tuning)
    builder.getModulePassManager().run(module, builder)


def compile_ir(ir_text: str) -> bytes:
    """Parse, verify, optimize and emit native object code for LLVM IR text."""
    with stage("llvm-parse"):
        try:
            module = llvm.parse_assembly(ir_text)
            module.verify()
        except RuntimeError as exc:
            raise CodegenError(f"generated LLVM IR is invalid (a bug in snnc): {exc}") from exc
    with stage("llvm-optimize"):
        optimize(module)
    with stage("llvm-emit"):
        return target_machine().emit_object(module)


def cache_key(*parts: str) -> str:
    """A hash of what determines the object code, with the host's fingerprint."""
    digest = hashlib.sha256()
    for part in (host_fingerprint(), *parts):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def cached_compile(key: str, make_ir, cache: ObjectCache | None) -> tuple[bytes, bool]:
    """Object code for `key`, from the cache when it holds it, else compiled from make_ir()'s
    IR (and stored); returns (code, was_cached). The key must determine the IR: a hit skips
    generating it, which is most of the time a cached compile would take."""
    if cache is not None:
        code = cache.get(key)
        if code is not None:
            return code, True
    with stage("codegen"):
        ir_text = make_ir()
    code = compile_ir(ir_text)
    if cache is not None:
        cache.put(key, code)
    return code, False


class NativeLibrary:
    """Object code loaded into an MCJIT engine; `function(name, restype, *argtypes)` gives a
    ctypes callable (which releases the GIL while it runs)."""

    def __init__(self, code: bytes) -> None:
        with stage("load"):
            self._engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), new_target_machine())
            try:
                self._engine.add_object_file(llvm.ObjectFileRef.from_data(code))
                self._engine.finalize_object()
            except RuntimeError as exc:
                raise CodegenError(f"cannot load object code: {exc}") from exc

    def function(self, name: str, restype, *argtypes):
        address = self._engine.get_function_address(name)
        if not address:
            raise CodegenError(f"object code has no function {name!r}")
        return ctypes.CFUNCTYPE(restype, *argtypes)(address)
