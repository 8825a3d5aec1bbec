"""The program file (.snnx, docs/isa.md "Program format"): header, sections, and the text listing.

    header (32 bytes, little-endian)
      magic "SNNX" | version u16 | flags u16 | configuration hash (8 bytes) | section count u32
      | payload length u32 | CRC-32 of the payload u32 | reserved u32
    payload: sections, each  kind (4 ASCII bytes) | length u32 | data, padded to 8 bytes
      META  JSON: the network's structure, the cores (layer, rows, code range, descriptors)
      WGTS  int8 weights, every synapse's matrix row-major
      PARM  int32 parameters, per layer: thresholds, biases, initial membranes (one per channel)
      CODE  u64 instruction words, the cores' programs one after another

Decoding checks everything before anything runs: a truncated or corrupted file, another
version, a checksum that does not match, an offset outside its section, and then (verify.py)
a program that is not exactly what snnc emits for the network it describes: each is a
FileError (exit 3), never a crash, and no loop runs longer than the input is long.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass

import numpy as np
from snnc.targets.accel import isa

from snnc.errors import FileError, UsageError

MAGIC = b"SNNX"
VERSION = 3  # 2: layers carry pool_pads; 3: the gate pool is a running max
HEADER = struct.Struct("<4sHH8sIII4x")
SECTION = struct.Struct("<4sI")
SECTION_KINDS = (b"META", b"WGTS", b"PARM", b"CODE")


@dataclass
class AccelProgram:
    """A decoded program: what the simulator executes."""

    config_hash: bytes
    meta: dict
    weights: np.ndarray  # int8
    params: np.ndarray  # int32
    code: list[list[isa.Instruction]]  # per core, in meta["cores"] order

    def listing(self) -> str:
        """The program as text assembly, one `.core` block per core."""
        lines = [f"; snnx v{VERSION}, configuration {self.config_hash.hex()}, model {self.meta['model']}, "
                 f"T = {self.meta['timesteps']}, {self.meta['slots']} slots"]  # fmt: skip
        for core, program in zip(self.meta["cores"], self.code):
            layer = self.meta["layers"][core["layer"]]["name"]
            lines.append(
                f".core {core['id']} layer={core['layer']} rows={core['rows'][0]}:{core['rows'][1]}  ; {layer}"
            )
            lines += [f"  {isa.disassemble(instruction)}" for instruction in program]
        return "\n".join(lines) + "\n"


def parse_listing(text: str) -> list[list[isa.Instruction]]:
    """The code of a listing (per core, in order): the inverse of AccelProgram.listing's code."""
    code: list[list[isa.Instruction]] = []
    for number, line in enumerate(text.splitlines(), 1):
        body = line.split(";", 1)[0].strip()
        if not body:
            continue
        if body.startswith(".core"):
            code.append([])
            continue
        if not code:
            raise UsageError(f"line {number}: an instruction before the first .core")
        try:
            code[-1].append(isa.assemble(body))
        except ValueError as exc:
            raise UsageError(f"line {number}: {exc}") from None
    return code


# -- writing --------------------------------------------------------------------------------------
def encode_program(program: AccelProgram) -> bytes:
    words = [isa.encode(i) for core in program.code for i in core]
    sections = {
        b"META": json.dumps(program.meta, separators=(",", ":")).encode(),
        b"WGTS": np.ascontiguousarray(program.weights, dtype=np.int8).tobytes(),
        b"PARM": np.ascontiguousarray(program.params, dtype="<i4").tobytes(),
        b"CODE": np.asarray(words, dtype="<u8").tobytes(),
    }
    payload = b"".join(
        SECTION.pack(kind, len(data)) + data + b"\0" * (-len(data) % 8) for kind, data in sections.items()
    )
    header = HEADER.pack(MAGIC, VERSION, 0, program.config_hash, len(sections), len(payload), zlib.crc32(payload))
    return header + payload


# -- reading --------------------------------------------------------------------------------------
def decode_program(data: bytes, source: str = "program") -> AccelProgram:
    """Parse and check a program file's bytes; any defect is a FileError naming `source`."""
    try:
        return _decode(bytes(data), source)
    except FileError:
        raise
    except Exception as exc:  # a trust boundary: whatever the bytes say, report, never crash
        raise FileError(f"{source}: corrupted program ({type(exc).__name__}: {exc})") from None


def _decode(data: bytes, source: str) -> AccelProgram:
    if len(data) < HEADER.size:
        raise FileError(f"{source}: truncated: {len(data)} bytes, shorter than the {HEADER.size}-byte header")
    magic, version, _flags, config_hash, count, length, checksum = HEADER.unpack_from(data)
    if magic == b"PK\x03\x04":
        raise FileError(f"{source}: a snnc program (.snnc), not an accelerator program (.snnx): run it with `snnc run`")
    if magic != MAGIC:
        raise FileError(f"{source}: not an snnc accelerator program (.snnx)")
    if version != VERSION:
        raise FileError(f"{source}: program format version {version}; this snnc reads version {VERSION}: recompile")
    payload = data[HEADER.size :]
    if len(payload) != length:
        raise FileError(
            f"{source}: truncated: the header announces {length} payload bytes, the file has {len(payload)}"
        )
    if zlib.crc32(payload) != checksum:
        raise FileError(f"{source}: checksum mismatch: the file is corrupted")
    sections = _sections(payload, count, source)
    try:
        meta = json.loads(sections[b"META"].decode())
    except (ValueError, RecursionError) as exc:
        raise FileError(f"{source}: corrupted META section ({exc})") from None
    weights = np.frombuffer(sections[b"WGTS"], dtype=np.int8)
    if len(sections[b"PARM"]) % 4 or len(sections[b"CODE"]) % 8:
        raise FileError(f"{source}: PARM or CODE section length is not a whole number of words")
    params = np.frombuffer(sections[b"PARM"], dtype="<i4").astype(np.int64)
    words = np.frombuffer(sections[b"CODE"], dtype="<u8")
    check_code_ranges(meta, len(words), source)
    code = [[isa.decode(int(w)) for w in words[c["code"][0] : c["code"][0] + c["code"][1]]] for c in meta["cores"]]
    program = AccelProgram(config_hash, meta, weights, params, code)
    from snnc.targets.accel.verify import verify_program  # it imports the emitter, which imports this module

    verify_program(program, source)
    return program


def _sections(payload: bytes, count: int, source: str) -> dict[bytes, bytes]:
    sections: dict[bytes, bytes] = {}
    offset = 0
    for _ in range(min(count, len(SECTION_KINDS))):
        if offset + SECTION.size > len(payload):
            raise FileError(f"{source}: truncated section table")
        kind, size = SECTION.unpack_from(payload, offset)
        offset += SECTION.size
        if kind not in SECTION_KINDS or kind in sections or offset + size > len(payload):
            raise FileError(f"{source}: bad section {kind!r} of {size} bytes at offset {offset}")
        sections[kind] = payload[offset : offset + size]
        offset += size + (-size % 8)
    missing = [k.decode() for k in SECTION_KINDS if k not in sections]
    if missing or count != len(SECTION_KINDS):
        raise FileError(f"{source}: sections missing: {missing or count}")
    return sections


def check_code_ranges(meta, words: int, source: str) -> None:
    """What splitting CODE into the cores' programs needs; verify.py checks everything else."""
    cores = meta.get("cores") if isinstance(meta, dict) else None
    if not isinstance(cores, list) or not cores or not all(isinstance(c, dict) for c in cores):
        raise FileError(f"{source}: inconsistent program: META has no cores")
    for core in cores:
        span = core.get("code")
        if not (isinstance(span, list) and len(span) == 2 and all(isinstance(v, int) and v >= 0 for v in span)
                and span[0] + span[1] <= words):  # fmt: skip
            raise FileError(f"{source}: inconsistent program: the code range of core {core.get('id')!r}")


def read_program(path) -> AccelProgram:
    """Read, decode and verify a `.snnx` file."""
    from snnc.files import MEMBER_LIMIT_ENV, read_file, size_limit

    return decode_program(read_file(path, "an accelerator program (.snnx)", size_limit(MEMBER_LIMIT_ENV)), str(path))
