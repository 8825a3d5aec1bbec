"""The ISA: every instruction encodes to one 64-bit word and back, and prints and parses back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from snnc.targets.accel import isa

from snnc.errors import FileError


@st.composite
def instructions(draw) -> isa.Instruction:
    op = draw(st.sampled_from(sorted(isa.OPCODES)))
    fields = {"a": 0, "b": 0}
    for _, slot, enum in isa.OPERANDS.get(op, ()):
        fields[slot] = draw(st.integers(0, len(isa.ENUMS[enum]) - 1)) if enum else draw(st.integers(0, 0xFFFF))
    first, count = draw(st.integers(0, 0xFFFF)), draw(st.integers(0, 0xFFFF))
    return isa.Instruction(op, fields["a"], fields["b"], first, count)


@given(instructions())
def test_binary_round_trip(instruction):
    word = isa.encode(instruction)
    assert 0 <= word < 2**64
    assert isa.decode(word) == instruction


@given(instructions())
def test_text_round_trip(instruction):
    assert isa.assemble(isa.disassemble(instruction)) == instruction


@given(st.integers(0, 2**64 - 1))
def test_any_word_decodes_or_is_a_file_error(word):
    try:
        instruction = isa.decode(word)
    except FileError:
        return
    assert isa.encode(instruction) == word or instruction.op in isa.OPCODES


def test_operands_are_named_in_text():
    instruction = isa.make("FIRE", 3, 32, reset="zero")
    assert isa.disassemble(instruction) == "FIRE reset=zero @3+32"
    assert instruction.operand("reset") == "zero"
    assert instruction.active(3) and instruction.active(34) and not instruction.active(35)
    assert isa.assemble("acc syn=7 @0+8 ; a comment") == isa.make("ACC", 0, 8, syn=7)


@pytest.mark.parametrize("text", ["FOO", "ACC syn=x", "ACC bogus=1", "FIRE reset=sometimes", "ACC syn=1 @3", ""])
def test_bad_assembly_is_a_value_error(text):
    with pytest.raises(ValueError):
        isa.assemble(text)


def test_unknown_opcode_and_bad_enum_are_file_errors():
    with pytest.raises(FileError, match="unknown opcode"):
        isa.decode(0xEE)
    with pytest.raises(FileError, match="reset"):
        isa.decode(isa.OPCODES["FIRE"][0] | 9 << 8)
