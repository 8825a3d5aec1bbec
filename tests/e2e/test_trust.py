"""Trust: object code runs only when this machine made it or the user opts in; the object cache
cannot be poisoned, and does not crash or hang on what it finds."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile

import numpy as np
import pytest
from snnc.targets.cpu.objcache import MAGIC, ObjectCache
from snnc.targets.cpu.runner import CompiledNetwork

import snnc
from snnc.cli import main
from tests.fuzz.planted import planted_object
from tests.targets.cpu.test_native_program import small_program


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A small cpu program, saved, its inputs, and the logits it gives."""
    folder = tmp_path_factory.mktemp("trust")
    program, x = small_program()
    program.save(folder / "p.snnc")
    np.savez(folder / "x.npz", x=x)
    return folder, program.run(x).logits


def replace_object_code(source, target, code: bytes, update_hash: bool) -> None:
    """The attacker's artifact: native.o swapped (and, if asked, the manifest's hash updated to match)."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as forged:
        for name in original.namelist():
            data = original.read(name)
            if name == "native.o":
                data = code
            if name == "manifest.json" and update_hash:
                manifest = json.loads(data)
                manifest["native"]["sha256"] = hashlib.sha256(code).hexdigest()
                data = json.dumps(manifest).encode()
            forged.writestr(name, data)


def forge(folder, tmp_path, update_hash: bool):
    """The saved artifact with planted object code, its inputs beside it; (path, marker file)."""
    marker, forged = tmp_path / "ran", tmp_path / "forged.snnc"
    replace_object_code(folder / "p.snnc", forged, planted_object(str(marker)), update_hash)
    np.savez(tmp_path / "x.npz", x=np.load(folder / "x.npz")["x"])
    return forged, marker


@pytest.mark.parametrize("trusted", [False, True])
def test_object_code_in_an_artifact_runs_only_when_trusted(saved, tmp_path, capsys, trusted):
    """Untrusted (the default): compiled from the IR, the right logits. Trusted: the control
    that shows the same artifact's planted code would have run."""
    folder, logits = saved
    forged, marker = forge(folder, tmp_path, update_hash=True)
    out = tmp_path / "out.npz"
    extra = ["--trust-native"] if trusted else []
    assert main(["run", str(forged), "--input", str(tmp_path / "x.npz"), "--output", str(out), "-q", *extra]) == 0
    assert marker.exists() == trusted
    if not trusted:
        np.testing.assert_array_equal(np.load(out)["logits"], logits)
    capsys.readouterr()


def test_trusted_object_code_must_match_its_manifest(saved, tmp_path):
    folder, logits = saved
    forged, marker = forge(folder, tmp_path, update_hash=False)
    with pytest.warns(UserWarning, match="does not match its manifest"):
        program = snnc.load(forged, trust_native=True)
    np.testing.assert_array_equal(program.run(np.load(folder / "x.npz")["x"]).logits, logits)
    assert not marker.exists()


def test_trusted_genuine_object_code_is_used_without_compiling(saved, monkeypatch):
    from snnc.targets.cpu import llvm

    folder, logits = saved
    monkeypatch.setattr(llvm, "compile_ir", lambda text: pytest.fail("recompiled a trusted artifact's code"))
    program = snnc.load(folder / "p.snnc", trust_native=True)
    np.testing.assert_array_equal(program.run(np.load(folder / "x.npz")["x"]).logits, logits)


# -- the object cache -----------------------------------------------------------------------------
def entry_of(cache_dir) -> os.PathLike:
    (entry,) = [p for p in cache_dir.iterdir() if p.suffix == ".o"]
    return entry


@pytest.mark.parametrize("forge_header", [False, True])
def test_a_planted_cache_entry_is_not_loaded(tmp_path, forge_header):
    program, x = small_program()
    cache_dir = tmp_path / "cache"
    expected = CompiledNetwork(program.graph, ObjectCache(cache_dir)).run(x, 8).logits
    marker = tmp_path / "ran"
    code = planted_object(str(marker))
    # the attacker knows the format, not the cache's secret
    entry_of(cache_dir).write_bytes(MAGIC + hashlib.sha256(code).digest() + code if forge_header else code)
    with pytest.warns(UserWarning, match="integrity check"):
        network = CompiledNetwork(program.graph, ObjectCache(cache_dir))
    assert not network.native.cached
    np.testing.assert_array_equal(network.run(x, 8).logits, expected)
    assert not marker.exists()
    assert CompiledNetwork(program.graph, ObjectCache(cache_dir)).native.cached  # the entry was rewritten


def test_an_entry_from_another_cache_is_not_loaded(tmp_path):
    """Copied between caches (a shared folder, a restored backup): each cache has its own secret."""
    program, _ = small_program()
    CompiledNetwork(program.graph, ObjectCache(tmp_path / "a"))
    CompiledNetwork(program.graph, ObjectCache(tmp_path / "b"))
    entry_of(tmp_path / "b").write_bytes(entry_of(tmp_path / "a").read_bytes())
    with pytest.warns(UserWarning, match="integrity check"):
        assert not CompiledNetwork(program.graph, ObjectCache(tmp_path / "b")).native.cached


@pytest.mark.parametrize("damage", ["fifo", "link to /dev/zero", "folder", "truncated", "flipped bit", "empty"])
def test_damaged_or_special_entries_are_recompiled(tmp_path, damage):
    program, x = small_program()
    cache_dir = tmp_path / "cache"
    expected = CompiledNetwork(program.graph, ObjectCache(cache_dir)).run(x, 8).logits
    entry = entry_of(cache_dir)
    data = entry.read_bytes()
    if damage in ("fifo", "link to /dev/zero", "folder"):
        entry.unlink()
        {"fifo": os.mkfifo, "folder": os.mkdir}.get(damage, lambda p: p.symlink_to("/dev/zero"))(entry)
    elif damage == "truncated":
        entry.write_bytes(data[: len(data) // 2])
    elif damage == "flipped bit":
        entry.write_bytes(data[:-100] + bytes([data[-100] ^ 4]) + data[-99:])
    else:
        entry.write_bytes(b"")
    with pytest.warns(UserWarning, match="object cache"):
        network = CompiledNetwork(program.graph, ObjectCache(cache_dir))
    np.testing.assert_array_equal(network.run(x, 8).logits, expected)


def test_the_cache_folder_is_private(tmp_path):
    program, _ = small_program()
    cache_dir = tmp_path / "new" / "cache"
    CompiledNetwork(program.graph, ObjectCache(cache_dir))
    assert cache_dir.stat().st_mode & 0o777 == 0o700
    assert all(p.stat().st_mode & 0o077 == 0 for p in cache_dir.iterdir())


@pytest.mark.parametrize("how", ["mode 1777", "another user"])
def test_a_shared_or_foreign_cache_folder_is_not_used(tmp_path, how):
    program, x = small_program()
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    if how == "mode 1777":
        cache_dir.chmod(0o1777)
    elif os.geteuid() == 0:
        os.chown(cache_dir, 65534, 65534)
    else:
        pytest.skip("giving a folder to another user needs root")
    with pytest.warns(UserWarning, match="writable by other users|another user"):
        network = CompiledNetwork(program.graph, ObjectCache(cache_dir))
    assert list(cache_dir.iterdir()) == []  # nothing read, nothing written
    assert network.run(x, 8).logits.shape == (16, 5)
