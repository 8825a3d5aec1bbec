"""The accelerator's parameters: its size, word widths, clock and energy table (docs/accel.md).

A `ChipConfig` is built in (`DEFAULT`) and every field can be overridden from a TOML file:

    [chip]            cores_x, cores_y, lanes, weight_sram_kib, state_sram_kib, clock_mhz, ...,
                      dram_mib, dram_gbs, swap_batch (off-chip memory: segments.py),
                      chips, link_gbs, link_latency_ns, objective (several chips: segments.py)
    [energy]          pj_add8, pj_add32, pj_mul8, pj_mul32, pj_compare, pj_shift, pj_hop,
                      sram_pj_per_64b (a table {KiB: pJ}), static_mw_per_core, dram_pj_per_byte,
                      link_pj_per_bit

Unknown keys and impossible values are usage errors (exit 2) naming the key. The energy
figures are the 45 nm numbers of Horowitz (ISSCC 2014) that SNN papers use; the NoC hop and
static power are assumptions, marked as such in docs/accel.md.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field

from snnc.errors import FileError, UsageError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]


def _sram_table() -> dict[float, float]:
    # pJ per 64-bit access by array size in KiB (Horowitz 2014, 45 nm: 8 KB 10 pJ, 32 KB 20 pJ, 1 MB 100 pJ)
    return {8.0: 10.0, 32.0: 20.0, 1024.0: 100.0}


@dataclass(frozen=True)
class EnergyTable:
    """Energy per operation in pJ (45 nm) and static power."""

    pj_add8: float = 0.03
    pj_add32: float = 0.1
    pj_mul8: float = 0.2
    pj_mul32: float = 3.1
    pj_compare: float = 0.1  # a 32-bit compare is a subtraction: the int32 add
    pj_shift: float = 0.1  # assumption: a 32-bit shift costs about an int32 add
    pj_hop: float = 2.0  # assumption: one 32-bit flit across one router and link
    sram_pj_per_64b: dict = field(default_factory=_sram_table)
    static_mw_per_core: float = 0.5  # assumption: leakage of one core's SRAM and logic
    # off-chip DRAM, per byte moved: Horowitz 2014 gives 1.3–2.6 nJ per 64-bit DRAM access
    # (45 nm); the low end, 1.3 nJ / 8 bytes
    dram_pj_per_byte: float = 162.5
    link_pj_per_bit: float = 5.0  # assumption: a chip-to-chip SerDes link, a few pJ per bit

    def sram_pj(self, kib: float, bits: int) -> float:
        """pJ for one access of `bits` to an array of `kib` KiB: log-linear in the size between
        the table's points (clamped at its ends), scaled by the width over 64 bits."""
        points = sorted((float(k), float(v)) for k, v in self.sram_pj_per_64b.items())
        size = min(max(kib, points[0][0]), points[-1][0])
        for (k0, e0), (k1, e1) in zip(points, points[1:]):
            if size <= k1:
                share = 0.0 if k1 == k0 else math.log(size / k0) / math.log(k1 / k0)
                return (e0 + share * (e1 - e0)) * bits / 64
        return points[-1][1] * bits / 64


@dataclass(frozen=True)
class ChipConfig:
    """A grid of cores_x × cores_y neuromorphic cores joined by a 2-D mesh network on chip."""

    cores_x: int = 8
    cores_y: int = 8
    lanes: int = 16  # neurons a core updates per cycle (and output channels per accumulate cycle)
    weight_sram_kib: int = 64  # per core, int8 weights
    state_sram_kib: int = 128  # per core: membranes, thresholds, biases, buffers (state words)
    sram_bank_kib: int = 8  # SRAMs are built of banks; an access costs what one bank of this size costs
    weight_bits: int = 8
    state_bits: int = 32
    clock_mhz: float = 200.0
    hop_cycles: int = 1  # router latency per hop
    barrier_cycles: int = 16  # the controller's end-of-step barrier
    exit_cycles: int = 32  # the controller's confidence check per sample and step
    # off-chip memory for networks larger than the chip (segments.py): LPDDR4-3200 on a 32-bit
    # channel moves 3200 MT/s × 4 bytes = 12.8 GB/s (JEDEC JESD209-4)
    dram_mib: int = 4096
    dram_gbs: float = 12.8
    swap_batch: int = 16  # images a segment runs while its weights are on chip (a swap serves them all)
    # several chips in a chain: PCIe 4.0 ×4 carries 16 GT/s × 4 lanes × 128/130 / 8 ≈ 7.9 GB/s each way
    chips: int = 1
    link_gbs: float = 7.9
    link_latency_ns: float = 1000.0  # assumption: one transfer's fixed cost across the link
    objective: str = "energy"  # where the mapper cuts a network larger than a chip: "energy" or "latency"
    energy: EnergyTable = field(default_factory=EnergyTable)

    def __post_init__(self) -> None:
        for key in ("cores_x", "cores_y", "lanes", "weight_sram_kib", "state_sram_kib", "sram_bank_kib", "hop_cycles",
                    "dram_mib", "swap_batch", "chips"):  # fmt: skip
            _require(_integer(getattr(self, key), 1), key, f"an integer in 1..{LARGEST:,}")
        for key in ("barrier_cycles", "exit_cycles"):
            _require(_integer(getattr(self, key), 0), key, f"an integer in 0..{LARGEST:,}")
        _require(self.weight_bits == 8, "weight_bits", "8 (int8 weights; other widths are not modeled)")
        _require(self.state_bits in (16, 24, 32), "state_bits", "16, 24 or 32")
        _require(_positive(self.clock_mhz) and self.clock_mhz <= 1e6, "clock_mhz", "a positive number of MHz")
        for key in ("dram_gbs", "link_gbs"):
            _require(_positive(getattr(self, key)) and getattr(self, key) <= 1e6, key, "a positive number of GB/s")
        _require(_number(self.link_latency_ns) and self.link_latency_ns >= 0, "link_latency_ns", "a number >= 0")
        _require(self.objective in ("energy", "latency"), "objective", '"energy" or "latency"')
        _require(self.cores <= 4096, "cores_x·cores_y", "at most 4096 cores (12-bit core ids)")
        table = self.energy
        for key in ("pj_add8", "pj_add32", "pj_mul8", "pj_mul32", "pj_compare", "pj_shift", "pj_hop",
                    "static_mw_per_core", "dram_pj_per_byte", "link_pj_per_bit"):  # fmt: skip
            value = getattr(table, key)
            _require(_number(value) and value >= 0, f"energy.{key}", "a number >= 0")
        sram = table.sram_pj_per_64b
        _require(isinstance(sram, dict) and len(sram) >= 1, "energy.sram_pj_per_64b", "a table {KiB: pJ}")
        for size, value in sram.items():
            ok = _positive(_as_float(size)) and _number(value) and value >= 0
            _require(ok, "energy.sram_pj_per_64b", "positive sizes in KiB mapped to pJ >= 0")

    @property
    def cores(self) -> int:
        return self.cores_x * self.cores_y

    @property
    def weight_bytes(self) -> int:
        return self.weight_sram_kib * 1024

    @property
    def state_words(self) -> int:
        return self.state_sram_kib * 1024 * 8 // self.state_bits

    def access_pj(self, sram_kib: int, bits: int) -> float:
        """pJ for one access of `bits` to a per-core SRAM of `sram_kib` KiB, built of banks."""
        return self.energy.sram_pj(min(sram_kib, self.sram_bank_kib), bits)

    def position(self, core: int) -> tuple[int, int]:
        return core % self.cores_x, core // self.cores_x

    def hops(self, a: int, b: int) -> int:
        (xa, ya), (xb, yb) = self.position(a), self.position(b)
        return abs(xa - xb) + abs(ya - yb)  # XY routing on the mesh

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["energy"]["sram_pj_per_64b"] = {str(k): v for k, v in self.energy.sram_pj_per_64b.items()}
        return data

    def hash(self) -> bytes:
        """8 bytes that identify the configuration (a program records the one it was built for)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).digest()[:8]


LARGEST = 1 << 20  # any count or size in KiB: a core of 1 GiB SRAM, a million lanes or cycles


def _integer(value, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= LARGEST


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _positive(value) -> bool:
    return _number(value) and value > 0


def _as_float(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _require(ok: bool, key: str, what: str) -> None:
    if not ok:
        raise UsageError(f"chip configuration: {key} must be {what}")


DEFAULT = ChipConfig()
CONFIG_LIMIT = 1 << 20  # bytes of a TOML file


def config_from_dict(data: dict) -> ChipConfig:
    """{"chip": {...}, "energy": {...}} over the defaults; unknown keys are errors."""
    if not isinstance(data, dict):
        raise UsageError("chip configuration: expected the tables [chip] and [energy]")
    unknown_sections = set(data) - {"chip", "energy"}
    if unknown_sections:
        raise UsageError(f"chip configuration: unknown section(s) {sorted(unknown_sections)}; known: chip, energy")
    for name in ("chip", "energy"):
        if not isinstance(data.get(name, {}), dict):
            raise UsageError(f"chip configuration: {name} must be a table ([{name}] with keys), got {data[name]!r}")
    chip, energy = dict(data.get("chip", {})), dict(data.get("energy", {}))
    _check_keys(chip, {f.name for f in dataclasses.fields(ChipConfig)} - {"energy"}, "chip")
    _check_keys(energy, {f.name for f in dataclasses.fields(EnergyTable)}, "energy")
    if "sram_pj_per_64b" in energy:
        table = energy["sram_pj_per_64b"]
        _require(isinstance(table, dict), "energy.sram_pj_per_64b", "a table {KiB: pJ}")
        energy["sram_pj_per_64b"] = {_as_float(k): v for k, v in table.items()}
    return ChipConfig(**chip, energy=EnergyTable(**energy))


def config_from_stored(data: dict | None) -> ChipConfig:
    """The inverse of ChipConfig.to_dict (None: the default)."""
    if data is None:
        return DEFAULT
    if not isinstance(data, dict):
        raise UsageError("chip configuration: expected a table")
    return config_from_dict(
        {"chip": {k: v for k, v in data.items() if k != "energy"}, "energy": data.get("energy", {})}
    )


def _check_keys(section: dict, known: set[str], name: str) -> None:
    unknown = sorted(set(section) - known)
    if unknown:
        raise UsageError(f"chip configuration: unknown key(s) {unknown} in [{name}]; known: {', '.join(sorted(known))}")


def load_config(path) -> ChipConfig:
    """Read a TOML configuration (see the module docstring); None gives the default."""
    if path is None:
        return DEFAULT
    from snnc.files import read_file

    try:
        data = tomllib.loads(read_file(path, "a chip configuration (TOML)", CONFIG_LIMIT).decode())
    except UnicodeDecodeError as exc:
        raise FileError(f"{path}: cannot read ({exc})") from None
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        raise UsageError(f"{path}: not valid TOML ({exc})") from None
    return config_from_dict(data)
