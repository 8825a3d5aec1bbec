"""snnc: compile trained ReLU networks (ONNX) into spiking neural networks.

graph = snnc.import_onnx("model.onnx")      # the IR (snnc.ir.Graph)
logits, = snnc.execute(graph, x)            # the ANN on the numpy reference executor

The names below are imported on first use, so that `snnc --version` (and Ctrl-C during
start-up) does not wait for onnx, onnxruntime and LLVM to load.
"""

__version__ = "0.1.0"


def _find_sibling_subpackages() -> None:
    """`passes/`, `targets/` and `runtime/` sit beside `snnc/` in the source tree and are
    installed inside it (pyproject's package-dir). Imported from a checkout's root, where this
    folder shadows the installed package, look for them beside it too."""
    from pathlib import Path

    here = Path(__file__).resolve().parent
    if not (here / "passes").is_dir() and (here.parent / "passes" / "__init__.py").is_file():
        __path__.append(str(here.parent))


_find_sibling_subpackages()

_EXPORTS = {
    "Program": "snnc.program",
    "compile": "snnc.program",
    "load": "snnc.program",
    "SnncError": "snnc.errors",
    "import_onnx": "snnc.frontend",
    "execute": "snnc.runtime",
    "import_nir": "snnc.frontend.nir_import",
    "import_torch": "snnc.torch_import",
}

__all__ = [
    "Program",
    "SnncError",
    "__version__",
    "compile",
    "execute",
    "import_nir",
    "import_onnx",
    "import_torch",
    "load",
]


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'snnc' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
