"""The wheel: builds, holds only the `snnc` package (with passes/targets/runtime mapped inside it),
and works from a fresh virtual environment."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUBPACKAGES = ["snnc", "snnc.ir", "snnc.models", "snnc.frontend", "snnc.frontend.converters", "snnc.passes",
               "snnc.targets", "snnc.runtime"]  # fmt: skip


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (path,) = out.glob("snnc-*.whl")
    return path


def test_wheel_holds_only_the_snnc_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names}
    assert {t for t in top_level if not t.endswith(".dist-info")} == {"snnc"}
    for module in ("snnc/passes/__init__.py", "snnc/targets/__init__.py", "snnc/runtime/ann.py", "snnc/cli.py"):
        assert module in names


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> tuple[Path, str]:
    """A fresh venv with the wheel installed: (its python, its site-packages)."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True)
    # Dependencies come from this environment, appended after the venv's own packages so that
    # the wheel's snnc (not this checkout) is the one imported.
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], capture_output=True, text=True
    ).stdout.strip()
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python, site


PROBE = "import importlib, sys\nfor m in sys.argv[1:]:\n    print(importlib.import_module(m).__file__)"


def test_wheel_installs_into_a_fresh_venv(installed, tmp_path):
    python, site = installed
    done = subprocess.run([python, "-c", PROBE, *SUBPACKAGES], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for path in done.stdout.split():
        assert path.startswith(site), f"{path} was not imported from the fresh venv"
    script = subprocess.run(
        [python.parent / "snnc", "--version"], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""}
    )
    assert script.returncode == 0 and script.stdout.startswith("snnc ")


def test_import_snnc_works_from_the_repository_root_after_install(installed):
    """There the checkout's snnc/ shadows the installed package; its subpackages sit beside it."""
    python, _ = installed
    probe = PROBE + "\nimport snnc\nprint(snnc.compile.__module__)"
    done = subprocess.run([python, "-c", probe, *SUBPACKAGES], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert all(path.startswith(str(ROOT)) for path in done.stdout.split()[:-1])
    assert done.stdout.split()[-1] == "snnc.program"
