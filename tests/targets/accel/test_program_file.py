"""The .snnx program file: round trip, the text listing, and a decoder that never crashes."""

from __future__ import annotations

import struct
import time
import zlib

import numpy as np
import pytest
from snnc.targets.accel import binary

from snnc.errors import FileError
from tests.targets.accel.conftest import FAMILIES, compile_accel, family_graph


@pytest.fixture(scope="module")
def program_bytes(family_data) -> bytes:
    program = compile_accel(family_graph(FAMILIES["residual"]), "if", 6, family_data)
    return binary.encode_program(program.accel().program)


def test_encode_decode_round_trip(program_bytes):
    program = binary.decode_program(program_bytes)
    assert binary.encode_program(program) == program_bytes
    assert program.meta["model"] == "if" and program.meta["timesteps"] == 6
    assert all(core[-1].op == "HALT" for core in program.code)


def test_listing_parses_back_to_the_same_code(program_bytes):
    program = binary.decode_program(program_bytes)
    text = program.listing()
    assert ".core" in text and "FIRE reset=subtract" in text and "ACC syn=" in text
    assert binary.parse_listing(text) == program.code


def with_checksum(payload: bytes, header: bytes) -> bytes:
    """A header whose length and CRC match `payload`, so the decoder looks past the checksum."""
    fields = list(binary.HEADER.unpack_from(header))
    fields[5], fields[6] = len(payload), zlib.crc32(payload)
    return binary.HEADER.pack(*fields) + payload


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[:20], "truncated"),
    (lambda b: b[:-40], "truncated"),
    (lambda b: b"ELF!" + b[4:], "not an snnc accelerator program"),
    (lambda b: b[:4] + struct.pack("<H", 99) + b[6:], "version 99"),
    (lambda b: b[:100] + bytes([b[100] ^ 0xFF]) + b[101:], "checksum"),
])  # fmt: skip
def test_damaged_files_are_file_errors(program_bytes, damage, message):
    with pytest.raises(FileError, match=message):
        binary.decode_program(damage(program_bytes), "x.snnx")


def test_fuzzed_bytes_never_crash_or_hang(program_bytes):
    """Random bytes and mutations (with the checksum fixed up, to reach the parser behind it):
    the decoder returns a program or raises FileError, and each try stays fast."""
    rng = np.random.default_rng(7)
    header, payload = program_bytes[: binary.HEADER.size], program_bytes[binary.HEADER.size :]
    tries = [rng.bytes(int(n)) for n in rng.integers(0, 400, 100)]
    for _ in range(300):
        mutated = bytearray(payload)
        for position in rng.integers(0, len(mutated), rng.integers(1, 8)):
            mutated[position] = int(rng.integers(0, 256))
        if rng.random() < 0.3:
            mutated = mutated[: int(rng.integers(0, len(mutated)))]
        tries.append(with_checksum(bytes(mutated), header))
    for data in tries:
        started = time.perf_counter()
        try:
            binary.decode_program(data)
        except FileError:
            pass
        assert time.perf_counter() - started < 2.0
