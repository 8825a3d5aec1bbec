"""The `.snnc` artifact: a zip of the manifest (format, versions, settings, pass notes), the
IR with its weights (`graph.ir`) and, for cpu programs, the object code built when it was
saved (`native.o`); accel programs add their `.snnx` (`program.snnx`).

What an artifact is trusted for: it is data. Loading parses and validates every member
(types and ranges of the manifest, the IR's ops, shapes and weights, the accel program's
sections) and never executes anything it carries: the network is compiled again from its IR
on this machine, served from the private object cache, so a second load is fast. The object
code inside runs only when the caller opts in (`load(path, trust_native=True)`,
`snnc run --trust-native`): that artifact is then trusted like an executable, as a pickle is
by `torch.load(weights_only=False)`. Even then it is used only if its SHA-256 matches the
manifest and it was built for this CPU, llvmlite and code generator.
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
import zipfile
import zlib
from pathlib import Path

from snnc import __version__
from snnc.errors import FileError, IRError, SnncError
from snnc.files import MEMBER_LIMIT_ENV, check_members, check_regular_file, size_limit, write_atomically
from snnc.timing import stage

FORMAT = "snnc-program"
FORMAT_VERSION = 2  # 2: a gated max pool is a running max (older artifacts carry the old gate's code)
MANIFEST = "manifest.json"
GRAPH = "graph.ir"
NATIVE_MEMBER = "native.o"
ACCEL_MEMBER = "program.snnx"
MANIFEST_LIMIT = 16 << 20


def save_artifact(program, path) -> Path:
    """Write the artifact atomically: a temporary file renamed into place."""
    if program.settings.target == "cpu":
        program.network()  # compiled first, so that "save" times the writing alone
    with stage("save"):
        return _write_artifact(program, Path(path))


def _write_artifact(program, path: Path) -> Path:
    from snnc.ir.text import print_graph

    manifest = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "snnc_version": __version__,
        "settings": program.settings.to_dict(),
        "notes": program.notes,
    }
    members = {GRAPH: print_graph(program.graph).encode()}
    if program.settings.target == "cpu":
        native = program.network().native
        members[NATIVE_MEMBER] = native.code
        manifest["native"] = {"fingerprint": native.fingerprint, "structure": native.structure_hash,
                              "sha256": hashlib.sha256(native.code).hexdigest()}  # fmt: skip
    else:
        members[ACCEL_MEMBER] = program.accel_binary()
    buffer = io.BytesIO()
    # Stored, not deflated: base64 weights and object code shrink by a quarter at most, and
    # deflating ResNet-50's took 4.5 of a cached compile's seconds.
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(MANIFEST, json.dumps(manifest, indent=1))
        for name, data in members.items():
            archive.writestr(name, data)
    write_atomically(path, buffer.getvalue())
    return path


def load_artifact(path, trust_native: bool = False):
    """Read and validate a `.snnc` artifact (see the module docstring for what is trusted)."""
    from snnc.program import Program

    path = check_regular_file(path, "a snnc program (.snnc)")
    try:
        with zipfile.ZipFile(path) as archive:
            members = _read_members(archive, path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise FileError(f"{path}: {_not_an_artifact(path, str(exc))}") from None
    manifest = _parse_manifest(members[MANIFEST], path)
    try:
        graph, settings = _parse_program(members[GRAPH], manifest, path)
    except (SnncError, TypeError, ValueError, RecursionError, OverflowError) as exc:
        raise FileError(f"{path}: corrupted program ({exc})") from None
    if ACCEL_MEMBER in members:
        from snnc.targets.accel import decode_program

        decode_program(members[ACCEL_MEMBER], f"{path}: {ACCEL_MEMBER}")  # validated; rebuilt from the IR when run
    native = _native_code(members, manifest, path) if trust_native else None
    return Program(graph, settings, manifest["notes"], native)


def _not_an_artifact(path: Path, detail: str) -> str:
    """What the file is instead: an accelerator program (then `detail`, what failed, says
    nothing more), or something else (then it does)."""
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic == b"SNNX":
        return "an accelerator program (.snnx), not a .snnc artifact: run it with `snnc sim`"
    return f"not a snnc program (.snnc), or corrupted ({detail})"


def _read_members(archive: zipfile.ZipFile, path: Path) -> dict[str, bytes]:
    names = set(archive.namelist())
    if MANIFEST not in names or GRAPH not in names:
        raise FileError(f"{path}: {_not_an_artifact(path, f'no {MANIFEST} or {GRAPH}')}")
    wanted = [MANIFEST, GRAPH] + [n for n in (ACCEL_MEMBER, NATIVE_MEMBER) if n in names]  # all read: CRC-checked
    limit = size_limit(MEMBER_LIMIT_ENV)
    for name in wanted:
        check_members(archive, [name], MANIFEST_LIMIT if name == MANIFEST else limit, f"{path}: {name}",
                      MEMBER_LIMIT_ENV)  # fmt: skip
    return {name: archive.read(name) for name in wanted}


def _parse_manifest(data: bytes, path: Path) -> dict:
    try:
        manifest = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise FileError(f"{path}: corrupted manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise FileError(f"{path}: not a snnc program (format {found!r})")
    if manifest.get("version") != FORMAT_VERSION:
        raise FileError(
            f"{path}: program format version {manifest.get('version')!r} is not supported by snnc {__version__} "
            f"(reads version {FORMAT_VERSION}): recompile the model"
        )
    notes = manifest.get("notes", {})
    if not isinstance(notes, dict) or not all(
        isinstance(k, str) and isinstance(v, list) and all(isinstance(line, str) for line in v)
        for k, v in notes.items()
    ):
        raise FileError(f"{path}: corrupted manifest (notes must map pass names to lists of lines)")
    if not isinstance(manifest.get("settings"), dict):
        raise FileError(f"{path}: corrupted manifest (no settings)")
    manifest["notes"] = notes
    return manifest


def _parse_program(text: bytes, manifest: dict, path: Path):
    """The IR and settings, checked against each other and against this machine's memory."""
    from snnc.ir.ops_snn import Neuron
    from snnc.ir.text import parse_graph
    from snnc.program import Settings, check_finite_weights
    from snnc.resources import check_activation_memory

    settings = Settings.from_dict(manifest["settings"])
    graph = parse_graph(text.decode())
    check_finite_weights(graph)
    models = {node.op.model for node in graph.nodes() if isinstance(node.op, Neuron)}
    if models - {settings.neuron}:
        raise IRError(f"the IR has {sorted(models)} neurons, the settings say {settings.neuron!r}")
    check_activation_memory(graph)
    return graph, settings


def _native_code(members: dict, manifest: dict, path: Path):
    """The stored object code, if its hash matches the manifest (the caller trusts the artifact)."""
    from snnc.targets.cpu.runner import NativeCode

    info = manifest.get("native")
    code = members.get(NATIVE_MEMBER)
    fields = ("fingerprint", "structure", "sha256")
    if code is None or not isinstance(info, dict) or not all(isinstance(info.get(k), str) for k in fields):
        return None
    if hashlib.sha256(code).hexdigest() != info["sha256"]:
        warnings.warn(f"{path}: the stored object code does not match its manifest's hash; compiling from the IR",
                      stacklevel=3)  # fmt: skip
        return None
    return NativeCode(code, info["fingerprint"], info["structure"])
