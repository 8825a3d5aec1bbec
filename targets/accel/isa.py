"""The instruction set (docs/isa.md): 64-bit instruction words and their text form.

Word layout, little-endian:  bits 0–7 opcode | 8–15 a | 16–31 b | 32–47 first | 48–63 count.
`first` and `count` are the instruction's slot window: it runs in controller slots
first ≤ s < first + count; count = 0 means once, when the program is loaded. `a` and `b` are
the operands, named per opcode (OPERANDS).

Text form, one instruction per line:  MNEMONIC [name=value ...] [@first+count]
e.g.  `ACC syn=1 @8+8`, `FIRE reset=subtract @0+32`, `LDW syn=0`. `;` starts a comment.
"""

from __future__ import annotations

from dataclasses import dataclass

from snnc.errors import FileError

# mnemonic → (opcode, what it does); the semantics are in docs/isa.md
OPCODES = {
    "NOP": (0x00, "nothing"),
    "LDW": (0x01, "load synapse descriptor syn's weights into weight SRAM"),
    "LDP": (0x02, "load the slice's thresholds, biases and initial membranes into state SRAM"),
    "INIT": (0x03, "start a sample: V ← v0 (IF) or 0 (iLIF, readout); I ← 0; S ← 0"),
    "MAC": (0x10, "analog input: S += W·x through descriptor syn"),
    "ACC": (
        0x11,
        "accumulate through descriptor syn: form=events, this slot's events, I += W·e (a synaptic op "
        "per event and reached neuron); form=code, at the window's last slot, its T steps as codes "
        "c = Σ_t 2^(T−1−t)·e_t, I += W·c (a multiply-add per non-zero code and reached neuron)",
    ),
    "INTEG": (0x12, "mode=rate: V += I + S + B; mode=horner: V ← 2V + I; mode=code: V += I; then I ← 0"),
    "ADDS": (0x13, "iLIF end of accumulation: V += 2^T·S (the analog input's share)"),
    "POOL": (0x14, "iLIF max-pool of the accumulated potential"),
    "BIAS": (0x15, "iLIF, after POOL: V += 2^T·B + v0"),
    "FIRE": (0x20, "rate coding: s = [V ≥ Θ]; V −= s·Θ (reset=subtract) or V ← 0 (reset=zero)"),
    "EMIT": (0x21, "iLIF: V ← 2V; s = [V ≥ 2^T·Θ]; V −= s·2^T·Θ"),
    "ADAPT": (0x24, "MSAT: g and θ_t from L, Σ and the step's current I + S + B (snnc/models/fixed_msat.py)"),
    "MFIRE": (0x25, "MSAT: s = clamp(⌊V/θ_t⌋, 0, γ); V −= s·θ_t; L ← V; Σ += V; events carry s·g"),
    "SEND": (0x22, "send this slot's spikes as packets to the consumer cores"),
    "READ": (
        0x23,
        "readout: ship the slot's value to the controller (mode=rate: I+S+B, bits: I, offset: 2^T·(S+B)); I ← 0",
    ),
    "EXIT": (0x30, "controller: retire the samples whose confidence passes the threshold"),
    "SYNC": (0x3E, "barrier: end of the slot"),
    "HALT": (0x3F, "end of the program"),
}
MNEMONICS = {code: name for name, (code, _) in OPCODES.items()}
ENUMS = {
    "reset": ("subtract", "zero"),
    "mode": ("rate", "horner", "code"),
    "form": ("events", "code"),
    "read": ("rate", "bits", "offset"),
    "metric": ("max-softmax", "entropy", "sum-softmax"),
}
# operand name → (field, enum or None); the order is the text order
OPERANDS = {
    "LDW": (("syn", "b", None),),
    "MAC": (("syn", "b", None),),
    "ACC": (("syn", "b", None), ("form", "a", "form")),
    "INTEG": (("mode", "a", "mode"),),
    "FIRE": (("reset", "a", "reset"),),
    "READ": (("mode", "a", "read"),),
    "EXIT": (("metric", "a", "metric"),),
}
LIMITS = {"a": 0xFF, "b": 0xFFFF, "first": 0xFFFF, "count": 0xFFFF}


@dataclass(frozen=True)
class Instruction:
    op: str
    a: int = 0
    b: int = 0
    first: int = 0
    count: int = 0

    def __post_init__(self) -> None:
        if self.op not in OPCODES:
            raise ValueError(f"unknown instruction {self.op!r}")
        for key, limit in LIMITS.items():
            value = getattr(self, key)
            if not isinstance(value, int) or not 0 <= value <= limit:
                raise ValueError(f"{self.op}: field {key} = {value!r} is outside 0..{limit}")
        for _, slot, enum in OPERANDS.get(self.op, ()):
            if enum is not None and getattr(self, slot) >= len(ENUMS[enum]):
                raise ValueError(f"{self.op}: {enum} index {getattr(self, slot)} is not one of {ENUMS[enum]}")

    def active(self, slot: int) -> bool:
        return self.count > 0 and self.first <= slot < self.first + self.count

    def operand(self, name: str):
        """An operand by name: an enum's value as its string, else the number."""
        for key, slot, enum in OPERANDS.get(self.op, ()):
            if key == name:
                value = getattr(self, slot)
                return ENUMS[enum][value] if enum else value
        raise KeyError(f"{self.op} has no operand {name!r}")


def make(op: str, first: int = 0, count: int = 0, **operands) -> Instruction:
    """Build an instruction from named operands: make("FIRE", 0, 32, reset="zero")."""
    fields = {"a": 0, "b": 0}
    for key, slot, enum in OPERANDS.get(op, ()):
        value = operands.pop(key, 0)
        fields[slot] = ENUMS[enum].index(value) if enum and isinstance(value, str) else value
    if operands:
        raise ValueError(f"{op} takes no operand(s) {sorted(operands)}")
    return Instruction(op, fields["a"], fields["b"], first, count)


# -- binary ---------------------------------------------------------------------------------------
def encode(instruction: Instruction) -> int:
    code = OPCODES[instruction.op][0]
    return code | instruction.a << 8 | instruction.b << 16 | instruction.first << 32 | instruction.count << 48


def decode(word: int) -> Instruction:
    code = word & 0xFF
    if code not in MNEMONICS:
        raise FileError(f"unknown opcode 0x{code:02x} in instruction word 0x{word:016x}")
    try:
        return Instruction(MNEMONICS[code], word >> 8 & 0xFF, word >> 16 & 0xFFFF, word >> 32 & 0xFFFF, word >> 48)
    except ValueError as exc:
        raise FileError(f"bad instruction word 0x{word:016x}: {exc}") from None


# -- text -----------------------------------------------------------------------------------------
def disassemble(instruction: Instruction) -> str:
    parts = [instruction.op]
    for key, slot, enum in OPERANDS.get(instruction.op, ()):
        value = getattr(instruction, slot)
        parts.append(f"{key}={ENUMS[enum][value] if enum else value}")
    if instruction.count or instruction.first:
        parts.append(f"@{instruction.first}+{instruction.count}")
    return " ".join(parts)


def assemble(line: str) -> Instruction:
    """One line of assembly (see the module docstring) → an Instruction; ValueError if malformed."""
    text = line.split(";", 1)[0].split()
    if not text:
        raise ValueError("empty line")
    op, *rest = text
    op = op.upper()
    if op not in OPCODES:
        raise ValueError(f"unknown instruction {op!r}")
    first = count = 0
    operands: dict = {}
    known = {key: enum for key, _, enum in OPERANDS.get(op, ())}
    for token in rest:
        if token.startswith("@"):
            start, plus, length = token[1:].partition("+")
            if not plus or not start.isdigit() or not length.isdigit():
                raise ValueError(f"slot window {token!r}: expected @FIRST+COUNT")
            first, count = int(start), int(length)
            continue
        key, equals, value = token.partition("=")
        if not equals or key not in known:
            raise ValueError(f"{op}: unknown operand {token!r}; takes {sorted(known) or 'none'}")
        enum = known[key]
        if enum is not None:
            if value not in ENUMS[enum]:
                raise ValueError(f"{op} {key}={value!r}: expected one of {ENUMS[enum]}")
            operands[key] = value
        elif value.isdigit():
            operands[key] = int(value)
        else:
            raise ValueError(f"{op} {key}={value!r}: expected a number")
    return make(op, first, count, **operands)
