"""Host resources: how much memory this process may still take, and checks made before large
allocations, so that a declared shape or a crafted file fails with a message (exit 8) instead
of a MemoryError, an out-of-memory kill or hours of swapping.

The limit is the smallest of what the machine has available (`MemAvailable`), what the
process's cgroup still allows, and what its address-space limit (`ulimit -v`) leaves.
`SNNC_MEMORY_LIMIT` (bytes) lowers it further, e.g. on a shared machine.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

from snnc.errors import ResourceError

MEMORY_ENV = "SNNC_MEMORY_LIMIT"


def available_memory() -> int:
    """Bytes this process can still allocate (a generous estimate: the checks catch the absurd)."""
    limits = [_meminfo_available(), _cgroup_available(), _address_space_available(), _env_limit()]
    known = [value for value in limits if value is not None]
    return max(0, min(known)) if known else 1 << 62


def require_memory(needed: int, what: str, hint: str = "") -> None:
    """Raise ResourceError (exit 8) when `needed` bytes for `what` exceed what is available."""
    have = available_memory()
    if needed > have:
        raise ResourceError(f"{what}: needs {format_bytes(needed)} of memory, this machine has {format_bytes(have)} "
                            f"available{hint}")  # fmt: skip


def format_bytes(count: int | float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(count) < 1024 or unit == "PiB":
            return f"{count:,.0f} {unit}" if unit == "bytes" else f"{count:,.1f} {unit}"
        count /= 1024
    return f"{count} bytes"


def activation_bytes(graph, samples: int = 1) -> tuple[int, str, int]:
    """(bytes of every tensor of `samples` samples, the largest tensor's name, its bytes): what
    the reference executor holds when it keeps every value (float32)."""
    total, largest, largest_bytes = 0, "", 0
    for node in graph.nodes():
        size = 4 * samples
        for dim in node.type.sample_shape:
            size *= dim
        total += size
        if size > largest_bytes:
            largest, largest_bytes = node.name, size
    return total, largest, largest_bytes


def check_activation_memory(graph, samples: int = 1) -> int:
    """A network whose tensors for `samples` samples cannot fit is refused, naming its largest;
    else their bytes."""
    total, largest, largest_bytes = activation_bytes(graph, samples)
    what = "one sample's activations" if samples == 1 else f"the activations of {samples} samples"
    require_memory(total, f"{what} (the largest, {largest!r}: {format_bytes(largest_bytes)})")
    return total


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _cgroup_available() -> int | None:
    root = Path("/sys/fs/cgroup")
    try:
        limit = (root / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return int(limit) - int((root / "memory.current").read_text().strip())
    except (OSError, ValueError):
        return None


def _address_space_available() -> int | None:
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[0])
        return soft - pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return soft


def _env_limit() -> int | None:
    try:
        return int(os.environ[MEMORY_ENV])
    except (KeyError, ValueError):
        return None
