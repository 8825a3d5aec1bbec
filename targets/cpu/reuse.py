"""Workspace reuse: values that live within one step share memory.

A rate-coded network recomputes most of its values every step (synaptic currents, spikes,
pooled spikes) and reads each of them only later in the same step. Such a value's memory is
free again after its last reader, so values whose kernel intervals do not overlap can share
it: the per-step working set shrinks to what is live at once, plus the state that persists
across steps (membranes, spike counts, the readout), which keeps its own memory.

A region is step-local when every kernel that touches it runs in the step phase, the first
of them writes it (as `dst`, and not the readout's accumulator, which persists), and it lives
in the float workspace. Intervals are [first kernel, last kernel]; two values may share
memory only if their intervals are disjoint (a kernel reading one and writing the other
counts as an overlap).
"""

from __future__ import annotations

from dataclasses import replace

from snnc.targets.cpu.layout import ALIGNMENT, Kernel, Region

PERSISTENT_DST = ("accumulate",)  # kernels whose dst carries over from step to step


def share_step_local_values(kernels: list[Kernel]) -> tuple[list[Kernel], int]:
    """The kernels with the float workspace laid out again (state first, then the shared pool),
    and the workspace's new size."""
    uses = _uses(kernels)
    local = {region: (first, last) for region, (first, last, phases) in uses.items()
             if phases == {"step"} and _written_first(kernels[first], region)}  # fmt: skip
    moved, size = {}, 0
    for region in sorted(set(uses) - set(local), key=lambda r: r.offset):
        size = _aligned(size)
        moved[region] = replace(region, offset=size)
        size += region.size
    pool = _aligned(size)
    placed: list[tuple[Region, tuple[int, int], int]] = []  # (region, span, offset in the pool)
    for region, span in sorted(local.items(), key=lambda item: (item[1][0], item[0].offset)):
        live = [(offset, r.size) for r, (_, last), offset in placed if last >= span[0]]
        offset = _first_fit(live, region.size)
        placed.append((region, span, offset))
        moved[region] = replace(region, offset=pool + offset)
        size = max(size, pool + offset + region.size)
    return [_remapped(kernel, moved) for kernel in kernels], size


def _uses(kernels: list[Kernel]) -> dict[Region, tuple[int, int, set[str]]]:
    """(first, last kernel index, phases) of the kernels touching each float-workspace region."""
    uses: dict[Region, tuple[int, int, set[str]]] = {}
    for index, kernel in enumerate(kernels):
        for region in _regions(kernel):
            if region.space == "ws" and region.size:
                first, _, phases = uses.get(region, (index, index, set()))
                uses[region] = (first, index, phases | {kernel.phase})
    return uses


def _written_first(kernel: Kernel, region: Region) -> bool:
    """Whether the region's first kernel writes it (and not as state that carries over)."""
    return kernel.args.get("dst") == region and kernel.kind not in PERSISTENT_DST


def _regions(kernel: Kernel) -> list[Region]:
    found = []
    for value in kernel.args.values():
        if isinstance(value, Region):
            found.append(value)
        elif isinstance(value, tuple):
            found += [v for v in value if isinstance(v, Region)]
    return found


def _first_fit(live: list[tuple[int, int]], size: int) -> int:
    """The lowest aligned offset where `size` elements overlap none of the live (offset, size)."""
    for offset in sorted({0, *(_aligned(o + s) for o, s in live)}):
        if all(offset + size <= o or o + s <= offset for o, s in live):
            return offset
    raise AssertionError("unreachable: past every live block there is room")


def _aligned(offset: int) -> int:
    return -(-offset // ALIGNMENT) * ALIGNMENT


def _remapped(kernel: Kernel, moved: dict[Region, Region]) -> Kernel:
    def remap(value):
        if isinstance(value, Region):
            return moved.get(value, value)
        if isinstance(value, tuple):
            return tuple(remap(v) for v in value)
        return value

    return replace(kernel, args={key: remap(value) for key, value in kernel.args.items()})
