"""PyTorch modules in: exported to ONNX in memory, then imported like any ONNX model.

torch is never a dependency of snnc: it is imported here, when a module is given, and a missing
torch is an error that says how to install it. The exporter is the one the installed torch
recommends: torch.export's (`dynamo=True`, the default from torch 2.9) when onnxscript, which it
needs, is installed; else the TorchScript exporter (`dynamo=False`), which every torch since 1.x
has. The batch dimension is exported as dynamic either way.
"""

from __future__ import annotations

import importlib.util
import inspect
import io
import warnings

from snnc.errors import UnsupportedError, UsageError

INSTALL_TORCH = "PyTorch is not installed: pip install torch (snnc needs it only to take nn.Module models)"
INPUT_NAME = "input"


def is_torch_module(model) -> bool:
    return any(cls.__module__.startswith("torch.nn") and cls.__name__ == "Module" for cls in type(model).__mro__)


def import_torch(module, example_input, input_shapes: dict | None = None):
    """The IR graph of a torch `nn.Module` (in eval mode) for the batch `example_input`."""
    from snnc.frontend import import_onnx

    return import_onnx(torch_to_onnx(module, example_input), input_shapes)


def torch_to_onnx(module, example_input) -> bytes:
    """The module as ONNX bytes, by the installed torch's recommended exporter."""
    try:
        import torch
    except ImportError:
        raise UsageError(INSTALL_TORCH) from None
    if example_input is None:
        raise UsageError("a torch module needs example_input: a batch of inputs of the shape it takes")
    example = torch.as_tensor(example_input, dtype=torch.float32)
    buffer = io.BytesIO()
    parameters = inspect.signature(torch.onnx.export).parameters
    dynamo = "dynamo" in parameters and importlib.util.find_spec("onnxscript") is not None
    was_training = module.training
    module.eval()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporters' deprecation notices are for torch's users, not ours
            if dynamo:
                batch = torch.export.Dim("batch", min=1)
                program = torch.onnx.export(module, (example,), dynamo=True, input_names=[INPUT_NAME],
                                            dynamic_shapes=({0: batch},))  # fmt: skip
                program.save(buffer)
            else:
                legacy = {"dynamo": False} if "dynamo" in parameters else {}
                torch.onnx.export(module, (example,), buffer, input_names=[INPUT_NAME], output_names=["output"],
                                  dynamic_axes={INPUT_NAME: {0: "N"}}, **legacy)  # fmt: skip
    except Exception as exc:  # noqa: BLE001  (torch's exporters raise many kinds; the message says what)
        raise UnsupportedError(f"torch could not export the module to ONNX: {type(exc).__name__}: {exc}") from None
    finally:
        module.train(was_training)
    return buffer.getvalue()
