"""Fuzz cases of six kinds, each a mutated seed and the command that reads it.

    onnx       models: protobuf-aware changes (attributes, initializers, shapes, opsets, op types,
               external data, names that are not UTF-8) and raw bytes → inspect, compile, check
    data       .npz inputs: dtypes, shapes, values, labels, containers, bombs → run, sim, compile, eval
    artifact   .snnc programs: manifest, IR text, object code, members, bombs → run
    program    .snnx files with a valid checksum (META, PARM, WGTS, CODE, sections) and raw bytes → sim
    config     chip TOML: types, ranges, tables, syntax → check, compile, sim
    cache      the object cache: damaged, swapped, planted or special entries, shared folders → run,
               which must still succeed with the clean run's logits

One case in ten also points its output at a place that cannot be written (a full disk, a file
where a folder should be, /proc).
"""

from __future__ import annotations

import json
import os
import random
import shutil
from functools import partial
from pathlib import Path

import numpy as np

from tests.fuzz import mutators as m
from tests.fuzz.runner import Case

KINDS = ("onnx", "data", "artifact", "program", "config", "cache")
SMALL_LIMITS = {"SNNC_MAX_DATA_BYTES": str(64 << 20), "SNNC_MAX_MEMBER_BYTES": str(64 << 20)}


class CaseMaker:
    def __init__(self, seeds: Path) -> None:
        self.seeds = Path(seeds)
        self.index = json.loads((self.seeds / "seeds.json").read_text())
        self.bytes = {p.name: p.read_bytes() for p in self.seeds.iterdir() if p.is_file()}
        with np.load(self.seeds / "test.npz") as test:
            self.x, self.y = test["x"], test["y"]

    def path(self, name: str) -> str:
        return str(self.seeds / name)

    def make(self, kind: str, rng: random.Random) -> Case:
        case = getattr(self, f"_{kind}")(rng)
        case.kind = kind
        case.env = {**SMALL_LIMITS, "SNNC_CACHE_DIR": str(self.seeds / "shared-cache"), **case.env}
        if case.expect_logits is None and rng.random() < 0.1:
            _spoil_output(case, rng)
        return case

    # -- the six kinds ----------------------------------------------------------------------------
    def _onnx(self, rng: random.Random) -> Case:
        big = rng.random() < 0.15
        source = Path(self.index["onnx"][1]).read_bytes() if big else self.bytes["model.onnx"]
        holder = _Deferred()
        if rng.random() < 0.75:
            data, label = m.mutate_onnx(source, rng, holder.folder)
        else:
            data, label = m.mutate_bytes(source, rng)
        calib = self.path("calib.npz")
        commands = [["inspect", "m.onnx"], ["inspect", "m.onnx", "--json"], ["inspect", "m.onnx", "--ir"]]
        if not big:
            commands += [["m.onnx", "--calib", calib, "--neuron", "if", "-o", "out.snnc", "-q"],
                         ["m.onnx", "--calib", calib, "-T", "4", "-o", "out.snnc", "-q"],
                         ["check", "m.onnx", "-t", "accel", "--calib", calib, "--json"],
                         ["m.onnx", "-t", "accel", "--calib", calib, "-T", "4", "-o", "out.snnc", "-q"]]  # fmt: skip
        case = Case("onnx", label, rng.choice(commands), {"m.onnx": data})
        case.prepare = holder.prepare
        return case

    def _data(self, rng: random.Random) -> Case:
        data, label = m.mutate_npz(self.x, self.y, rng)
        files = {"d.npz": data}
        prepare = None
        special = rng.random()
        if special < 0.08:
            label, prepare = _special_file("d.npz", rng)
            files = {}
        commands = [
            ["run", self.path("if.snnc"), "--input", "d.npz", "--output", "out.npz", "-q"],
            ["run", self.path("ilif.snnc"), "--input", "d.npz", "--json"],
            ["run", self.path("accel.snnc"), "--input", "d.npz", "-q"],
            ["sim", self.path("accel.snnx"), "--input", "d.npz", "-q"],
            ["sim", self.path("accel_ilif.snnx"), "--input", "d.npz", "--json"],
            [self.path("model.onnx"), "--calib", "d.npz", "--neuron", "if", "-o", "out.snnc", "-q"],
            [self.path("model.onnx"), "--calib", "d.npz", "--adaptive", "--neuron", "if", "-o", "out.snnc", "-q"],
            ["eval", self.path("model.onnx"), "--data", "d.npz", "--calib", self.path("calib.npz"), "--neuron", "if",
             "-T", "4", "--target", "reference", "-q", "--json"],
        ]  # fmt: skip
        return Case("data", label, rng.choice(commands), files, prepare)

    def _artifact(self, rng: random.Random) -> Case:
        name = rng.choice(self.index["artifact"])
        members = m.read_zip(self.bytes[name])
        roll = rng.random()
        trust = []
        if roll < 0.2:
            data, label = m.mutate_bytes(self.bytes[name], rng)
        elif roll < 0.42:
            manifest, label = m.mutate_json(json.loads(members["manifest.json"]), rng)
            members["manifest.json"] = m.dump_json(manifest)
            data, label = m.write_zip(members), f"manifest: {label}"
        elif roll < 0.67:
            text, label = m.mutate_ir(members["graph.ir"].decode(), rng)
            members["graph.ir"] = text.encode("utf-8", "surrogatepass")
            data, label = m.write_zip(members), f"IR: {label}"
        elif roll < 0.77 and "native.o" in members:
            code, label = m.mutate_bytes(members["native.o"], rng)
            members["native.o"] = code
            trust = ["--trust-native"] if rng.random() < 0.5 else []
            data, label = m.write_zip(members), f"native.o: {label}{' (trusted)' if trust else ''}"
        elif roll < 0.85 and "program.snnx" in members:
            program, label = m.mutate_program(members["program.snnx"], rng)
            members["program.snnx"] = program
            data, label = m.write_zip(members), f"program.snnx: {label}"
        elif roll < 0.92:
            member = rng.choice(list(members))
            choice = rng.randrange(4)
            if choice == 0:
                del members[member]
                data, label = m.write_zip(members), f"member {member} removed"
            elif choice == 1:
                data, label = m.zip_bomb(member, 96 << 20, {k: v for k, v in members.items() if k != member}), \
                    f"member {member} is a bomb"  # fmt: skip
            elif choice == 2:
                data = m.lie_about_size(m.write_zip(members, stored=True), member, 2**32 - 2)
                label = f"member {member} declares 4 GiB"
            else:
                members[rng.choice(["../escape", "/abs", "manifest.json/x", "native.o.bak"])] = b"x"
                data, label = m.write_zip(members), "an extra member"
        else:
            label, prepare = _special_file("a.snnc", rng)
            return Case("artifact", label, ["run", "a.snnc", "--input", self.path("test.npz"), "-q"], {}, prepare)
        numeric = ["--numeric", "fixed"] if rng.random() < 0.2 else []
        argv = ["run", "a.snnc", "--input", self.path("test.npz"), "--output", "out.npz", "-q", *trust, *numeric]
        return Case("artifact", f"{name}: {label}", argv, {"a.snnc": data})

    def _program(self, rng: random.Random) -> Case:
        name = rng.choice(self.index["program"])
        roll = rng.random()
        if roll < 0.75:
            data, label = m.mutate_program(self.bytes[name], rng)
        elif roll < 0.95:
            data, label = m.mutate_bytes(self.bytes[name], rng)
        else:
            data, label = self.bytes[rng.choice(self.index["artifact"])], "a .snnc given to sim"
        config = ["--config", self.path("chip.toml")] if name == "accel.snnx" else []
        argv = ["sim", "p.snnx", "--input", self.path("test.npz"), rng.choice(["-q", "--json"]), *config]
        return Case("program", f"{name}: {label}", argv, {"p.snnx": data})

    def _config(self, rng: random.Random) -> Case:
        text, label = m.mutate_toml(self.bytes["chip.toml"].decode(), rng)
        if rng.random() < 0.5:  # one key changed within the valid file
            text = self.bytes["chip.toml"].decode() + "\n" + text if text.startswith("[energy]") else text
        calib = self.path("calib.npz")
        commands = [
            ["check", self.path("model.onnx"), "-t", "accel", "--config", "c.toml", "--calib", calib, "--json"],
            [self.path("model.onnx"), "-t", "accel", "--config", "c.toml", "--calib", calib, "-T", "4",
             "-o", "out.snnc", "-q"],
            ["sim", self.path("accel.snnx"), "--config", "c.toml", "--input", self.path("test.npz"), "-q"],
        ]  # fmt: skip
        return Case("config", label, rng.choice(commands), {"c.toml": text.encode("utf-8", "replace")})

    def _cache(self, rng: random.Random) -> Case:
        name = rng.choice(["if.snnc", "ilif.snnc"])
        label = rng.choice(CACHE_DAMAGE)
        argv = ["run", self.path(name), "--input", self.path("test.npz"), "--output", "out.npz", "-q"]
        prepare = partial(_damage_cache, self.seeds / "cache", label, rng.randrange(2**32))
        return Case("cache", label, argv, {}, prepare, env={"SNNC_CACHE_DIR": "cache"},
                    expect_logits=self.index["baseline"][name])  # fmt: skip


class _Deferred:
    """ONNX mutations that write external data need the case folder: write it to a holding
    folder now and copy it in at `prepare`."""

    def __init__(self) -> None:
        import tempfile

        self.folder = Path(tempfile.mkdtemp(prefix="snnc-fuzz-ext-"))

    def prepare(self, target: Path) -> None:
        for path in self.folder.iterdir():
            destination = target / path.name
            if path.is_symlink():
                destination.symlink_to(os.readlink(path))
            elif path.is_fifo():
                os.mkfifo(destination)
            elif path.is_dir():
                destination.mkdir(exist_ok=True)
            else:
                shutil.copyfile(path, destination)
        shutil.rmtree(self.folder, ignore_errors=True)


def _special_file(name: str, rng: random.Random):
    """An input path that is not a regular file."""
    kinds = {
        "a FIFO": lambda folder: os.mkfifo(folder / name),
        "a folder": lambda folder: (folder / name).mkdir(),
        "a link to /dev/zero": lambda folder: (folder / name).symlink_to("/dev/zero"),
        "a dangling link": lambda folder: (folder / name).symlink_to(folder / "nowhere"),
        "missing": lambda folder: None,
        "a link loop": lambda folder: (folder / name).symlink_to(folder / name),
    }
    label = rng.choice(list(kinds))
    return f"input is {label}", kinds[label]


def _spoil_output(case: Case, rng: random.Random) -> None:
    """Point the case's output somewhere unwritable (the input stays as it was)."""
    for flag in ("-o", "--output"):
        if flag in case.argv:
            position = case.argv.index(flag) + 1
            choice = rng.randrange(3)
            if choice == 0:
                case.file_size_limit = 2048
                case.label += "; disk full"
            elif choice == 1:
                case.files["blocker"] = b"a file where a folder should be"
                case.argv[position] = "blocker/" + Path(case.argv[position]).name
                case.label += "; output under a file"
            else:
                case.argv[position] = "/proc/snnc-fuzz/" + Path(case.argv[position]).name
                case.label += "; output in /proc"
            return


CACHE_DAMAGE = ["bit flips", "truncated", "empty", "random bytes", "link to /dev/zero", "FIFO", "folder",
                "swapped with another entry", "planted object", "unreadable", "deleted", "folder open to all",
                "folder of another user", "link to a foreign folder", "key damaged"]  # fmt: skip


def _damage_cache(clean: Path, label: str, seed: int, folder: Path) -> None:
    rng = random.Random(seed)
    cache = folder / "cache"
    shutil.copytree(clean, cache, symlinks=True)
    entries = sorted(p for p in cache.iterdir() if p.is_file() and p.suffix == ".o")
    keys = sorted(p for p in cache.iterdir() if p.is_file() and p.suffix != ".o")
    entry = rng.choice(entries)
    data = entry.read_bytes()
    if label == "bit flips":
        entry.write_bytes(_flip(data, rng))
    elif label == "truncated":
        entry.write_bytes(data[: rng.randrange(len(data))])
    elif label == "empty":
        entry.write_bytes(b"")
    elif label == "random bytes":
        entry.write_bytes(rng.randbytes(len(data)))
    elif label == "link to /dev/zero":
        entry.unlink()
        entry.symlink_to("/dev/zero")
    elif label == "FIFO":
        entry.unlink()
        os.mkfifo(entry)
    elif label == "folder":
        entry.unlink()
        entry.mkdir()
    elif label == "swapped with another entry":
        for other in entries:
            other.write_bytes(
                entries[(entries.index(other) + 1) % len(entries)].read_bytes() if other != entry else b""
            )
        entry.write_bytes(entries[(entries.index(entry) + 1) % len(entries)].read_bytes() or data)
    elif label == "planted object":
        entry.write_bytes(_planted_object())
    elif label == "unreadable":
        entry.chmod(0)
    elif label == "deleted":
        entry.unlink()
    elif label == "folder open to all":
        cache.chmod(0o1777)
    elif label == "folder of another user":
        if os.geteuid() == 0:
            os.chown(cache, 65534, 65534)
        else:
            cache.chmod(0o777)
    elif label == "link to a foreign folder":
        shutil.move(cache, folder / "foreign")
        os.chmod(folder / "foreign", 0o777)
        cache.symlink_to(folder / "foreign")
    elif label == "key damaged":
        for key in keys or entries:
            key.write_bytes(_flip(key.read_bytes(), rng) if key.stat().st_size else b"x")


def _flip(data: bytes, rng: random.Random) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randrange(1, 4)):
        position = rng.randrange(len(data))
        data[position] ^= 1 << rng.randrange(8)
    return bytes(data)


def _planted_object() -> bytes:
    """Object code for this host that defines the cpu entry point and writes a file when called."""
    from tests.fuzz.planted import planted_object

    return planted_object()
