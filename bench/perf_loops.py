"""Where the cpu target's time goes, loop by loop: samples of Linux perf's cpu-clock (a software
event: it needs no hardware counters, which this VM does not have) on the native code.

    python bench/perf_loops.py [--model fmnist_vgg] [--neuron msat] [--seconds 8] [--top 15]

Runs the network (one thread, batch 64) under `perf record`, maps each sample into the object
code (objdump), gives it to the innermost loop around it (a backward jump's range) and prints
the loops with the most samples, then the shares by kind of loop, told apart by their
instructions. A sample lands on the instruction after one that holds up retirement, so read
it per loop, not per instruction. bench/profile_cpu.py counts cycles per kernel instead.
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).parents[1]


def run_network(args, folder: Path) -> None:
    """The child under perf: compile, write the object code and its load address, then run."""
    import numpy as np
    from snnc.targets.cpu.runner import CompiledNetwork

    import snnc

    x = np.load(ROOT / "examples" / "fmnist_test.npz")["x"][:64]
    calibration = np.load(ROOT / "examples" / "fmnist_calib.npz")["x"][:256]
    program = snnc.compile(ROOT / "examples" / f"{args.model}.onnx", neuron=args.neuron, timesteps=args.timesteps,
                           calibration=calibration)  # fmt: skip
    network = CompiledNetwork(program.graph, cache=None)
    (folder / "code.o").write_bytes(network.native.code)
    (folder / "address").write_text(str(ctypes.cast(network.entry, ctypes.c_void_p).value))
    network.run(x, args.timesteps, threads=1)
    end = time.time() + args.seconds
    while time.time() < end:
        network.run(x, args.timesteps, threads=1)


def instructions(folder: Path) -> list[tuple[int, str]]:
    listing = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(folder / "code.o")],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
    rows = (re.match(r"\s*([0-9a-f]+):\s+(.*)", line) for line in listing.splitlines())
    return [(int(m.group(1), 16), m.group(2).strip()) for m in rows if m]


def samples(folder: Path, code: list[tuple[int, str]]) -> collections.Counter:
    base, end = int((folder / "address").read_text()), code[-1][0] + 16
    ips = subprocess.run(["perf", "script", "-i", str(folder / "perf.data"), "-F", "ip"],
                         capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    offsets = (int(ip, 16) - base for ip in ips)
    return collections.Counter(offset for offset in offsets if 0 <= offset < end)


def innermost_loops(code: list[tuple[int, str]], counts: collections.Counter) -> dict:
    loops = []
    for offset, text in code:
        jump = re.match(r"j\w+\s+([0-9a-f]+)", text)
        if jump and int(jump.group(1), 16) <= offset:
            loops.append((int(jump.group(1), 16), offset))
    by_loop: dict = collections.Counter()
    for offset, count in counts.items():
        around = [loop for loop in loops if loop[0] <= offset <= loop[1]]
        by_loop[min(around, key=lambda loop: loop[1] - loop[0]) if around else None] += count
    return by_loop


def kind(body: list[str]) -> str:
    """What a loop does, from its instructions."""
    has = {name: any(name in text for text in body) for name in ("vdivps", "vfmadd", "popcnt")}
    if len(body) > 300 and has["vdivps"]:
        return "MSAT threshold θ_t"
    if has["vdivps"]:
        return "MSAT test and listing"
    if has["vfmadd"]:
        return "synapses"
    if has["popcnt"]:
        return "spike listing"
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="fmnist_vgg")
    parser.add_argument("--neuron", default="msat", choices=["if", "ilif", "msat"])
    parser.add_argument("--timesteps", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return run_network(args, Path(args.child))
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        child = [sys.executable, __file__, *sys.argv[1:], "--child", name]
        subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", "4000", "-o", str(folder / "perf.data"),
                        "--", *child], check=True)  # fmt: skip
        code = instructions(folder)
        by_loop = innermost_loops(code, samples(folder, code))
    total = sum(by_loop.values())
    by_kind: dict = collections.Counter()
    print(f"{total} samples in the native code")
    for rank, (loop, count) in enumerate(by_loop.most_common()):
        body = [text for offset, text in code if loop and loop[0] <= offset <= loop[1]]
        label = kind(body) if loop else "outside loops"
        by_kind[label] += count
        if rank < args.top:
            where = f"{loop[0]:6x}-{loop[1]:6x}, {len(body)} instructions" if loop else ""
            print(f"{100 * count / total:5.1f} %  {label:24s} {where}")
    print("by kind: " + ", ".join(f"{label} {100 * count / total:.1f} %" for label, count in by_kind.most_common()))


if __name__ == "__main__":
    main()
